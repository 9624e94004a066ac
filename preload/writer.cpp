// threadsnap: the dump writer; see writer.h.
#include "preload/writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <linux/fs.h>
#include <sys/syscall.h>

#include <cstring>

#include "base/alloc.h"
#include "base/call_ids.h"
#include "base/check.h"
#include "base/small_file.h"
#include "preload/claim.h"
#include "preload/config.h"
#include "preload/control.h"
#include "preload/process_local.h"
#include "preload/owners.h"
#include "unwind/modules.h"

namespace threadsnap::detail {

namespace {

constexpr auto& g_seq = g_local.writer_seq;
constexpr auto& g_written = g_local.writer_written;  // dumps written by this process

// "00" to "ff".
struct HexPairs {
  char d[512];
};
constexpr HexPairs make_hex_pairs() {
  HexPairs h{};
  for (int i = 0; i < 256; ++i) {
    h.d[2 * i] = "0123456789abcdef"[i >> 4];
    h.d[2 * i + 1] = "0123456789abcdef"[i & 15];
  }
  return h;
}
constexpr HexPairs kHexPairs = make_hex_pairs();

// A growing text buffer from the private allocator, first sized for
// `expect` bytes (the previous dump's size: no growing copies).
class Text {
 public:
  explicit Text(size_t expect) {
    if (expect) reserve(expect);
  }
  ~Text() { ts_free(p_); }
  bool ok() const { return !failed_; }
  const char* data() const { return p_; }
  size_t size() const { return n_; }
  Text& raw(const char* d, size_t n) {
    char* p = room(n);
    if (!p) return *this;
    memcpy(p, d, n);
    n_ += n;
    return *this;
  }
  Text& s(const char* str) { return raw(str, strlen(str)); }
  Text& c(char ch) { return raw(&ch, 1); }
  // Numbers are written in place (a dump of 1,000 threads has ~15,000).
  Text& u(uint64_t v) {
    char* p = room(20);
    if (!p) return *this;
    int n = 1;
    for (uint64_t t = v; t >= 10; t /= 10) ++n;
    for (int i = n - 1; i >= 0; --i, v /= 10) p[i] = static_cast<char>('0' + v % 10);
    n_ += static_cast<size_t>(n);
    return *this;
  }
  // Two digits at a time (a dump of 10,000 threads has ~125,000 frames).
  Text& x(uint64_t v) {
    char* p = room(18);
    if (!p) return *this;
    int digits = v ? (67 - __builtin_clzll(v)) / 4 : 1;
    p[0] = '0';
    p[1] = 'x';
    char* q = p + 2 + digits;
    for (; v >= 256; v >>= 8) {
      q -= 2;
      memcpy(q, &kHexPairs.d[(v & 255) * 2], 2);
    }
    if (v >= 16) memcpy(q - 2, &kHexPairs.d[v * 2], 2);
    else q[-1] = "0123456789abcdef"[v];
    n_ += static_cast<size_t>(digits) + 2;
    return *this;
  }
  Text& hexbytes(const uint8_t* b, uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) { c("0123456789abcdef"[b[i] >> 4]); c("0123456789abcdef"[b[i] & 15]); }
    return *this;
  }
  // Percent-encodes spaces, '%' and anything not printable ASCII.
  Text& enc(const char* str) {
    for (const unsigned char* p = reinterpret_cast<const unsigned char*>(str); *p; ++p) {
      if (*p <= ' ' || *p == '%' || *p >= 0x7f) {
        c('%'); c("0123456789ABCDEF"[*p >> 4]); c("0123456789ABCDEF"[*p & 15]);
      } else {
        c(static_cast<char>(*p));
      }
    }
    return *this;
  }

 private:
  void reserve(size_t want) {
    size_t cap = cap_ ? cap_ * 2 : 65536;
    while (cap < want) cap *= 2;
    char* q = static_cast<char*>(ts_realloc(p_, cap));
    if (!q) { failed_ = true; return; }
    p_ = q;
    cap_ = cap;
  }
  // Where n more bytes go, or null once out of memory.
  char* room(size_t n) {
    if (TS_UNLIKELY(n_ + n > cap_) && !failed_) reserve(n_ + n);
    return failed_ ? nullptr : p_ + n_;
  }
  char* p_ = nullptr;
  size_t n_ = 0, cap_ = 0;
  bool failed_ = false;
};

// Whether a member is listed. Not listed: a thread that never existed or
// vanished before stop 1, and one whose pthread_create had not returned at
// stop 1 (no tid yet): its creation was not complete at the cut, and the
// creator could not start another before the cut (creation takes the
// registry lock, which stop 1 holds), so dumps still hold a prefix of the
// threads a creator starts.
bool is_shown(const Record* r, const Capture* c) { return !r->omit && c->tid != 0; }

uint32_t count_shown(const uint32_t* members, uint32_t count, uint32_t gen) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < count; ++i) {
    prefetch_ahead(members, i, count, 1);
    const Record* r = record_at(members[i]);
    if (abandoned(r, gen) ? !r->omit : is_shown(r, slot_at(members[i]))) ++n;
  }
  return n;
}

// `title`: /proc/self/cmdline as the program set it (NULs as spaces, the
// padding a program leaves after its process title cut), and `ppid`: which
// process of a multi-process program (PostgreSQL, forking servers) this is.
// Only the calls the writer already makes (openat, read, close of /proc), so
// a seccomp filter that lets dumps run lets this run; no /proc: no lines.

void write_title_ppid(Text& out) {
  char buf[1024];
  // thread-self: /proc/self/cmdline is empty once the main thread has ended.
  long n = read_small_file("/proc/thread-self/cmdline", buf, sizeof(buf));
  if (n <= 0) n = read_small_file("/proc/self/cmdline", buf, sizeof(buf));
  while (n > 0 && (buf[n - 1] == 0 || buf[n - 1] == ' ')) --n;
  if (n > 0) {
    for (long i = 0; i < n; ++i)
      if (buf[i] == 0) buf[i] = ' ';
    buf[n] = 0;
    out.s("title ").enc(buf).c('\n');
  }
  // getppid, not /proc/self/stat: reading that sums every thread's CPU
  // time in the kernel (4% of a 1,000-thread dump's CPU).
  out.s("ppid ").u(static_cast<uint64_t>(raw_syscall(SYS_getppid))).c('\n');
}

// A thread's frame lines, "  0x<pc>" each. Frames kept from an earlier dump
// (a thread still in the same call: most threads of a large program that
// waits) give the same text as then, which the slot keeps: formatting the
// numbers was a third of the writer's time.
void frame_lines(Text& out, Capture* c) {
  if (c->text_gen == c->frames_gen && c->text_nframes == c->nframes && c->text_len <= sizeof(c->text)) {
    out.raw(c->text, c->text_len);
    return;
  }
  size_t start = out.size();
  for (uint32_t f = 0; f < c->nframes; ++f) out.s("  ").x(c->frames[f]).c('\n');
  size_t len = out.size() - start;
  // stw keeps no frames from one dump to the next: no text either.
  if (!out.ok() || len > sizeof(c->text) || !g_config.concurrent) return;
  memcpy(c->text, out.data() + start, len);
  c->text_gen = c->frames_gen;
  c->text_nframes = c->nframes;
  c->text_len = static_cast<uint32_t>(len);
}

// Returns how many threads it lists.
uint32_t format(Text& out, const uint32_t* members, uint32_t count, const DumpTimes& t) {
  uint32_t shown = count_shown(members, count, t.gen);
  out.s("threadsnap 1\n");
  out.s("pid ").u(static_cast<uint64_t>(raw_getpid())).c('\n');
  const Module* exe = module_at(0);
  out.s("exe ").enc(exe ? exe->path : "?").c('\n');
  write_title_ppid(out);
  out.s("time_ns ").u(t.time_ns).c('\n');
  out.s("mode ").s(g_config.concurrent ? "concurrent" : "stw").c('\n');
  out.s("threads ").u(shown).c('\n');
  out.s("stop1_ns ").u(t.stop1_ns).c('\n');
  out.s("sweep_ns ").u(t.sweep_ns).c('\n');
  out.s("stop2_ns ").u(t.stop2_ns).c('\n');
  out.s("frozen ").u(t.frozen).c('\n');
  out.s("dumper_cpu_ns ").u(t.dumper_cpu_ns).c('\n');
  out.s("task_scan ").u(t.task_scan ? 1 : 0).c('\n');
  out.s("kept_frames ").u(t.kept).c('\n');
  // A record dump: relative to the last one of the same recorder that was
  // written whole (writer.h).
  uint32_t base_gen = 0;
  if (t.record_token) {
    if (g_local.record_token == t.record_token) base_gen = g_local.record_base_gen;
    out.s("record_token ").u(t.record_token).c('\n');
    out.s("record_base ").u(base_gen ? g_local.record_base_seq : 0).c('\n');
  }
  Text same(t.record_token ? 4096 : 0);
  out.s("unwind ").s(g_config.unwind_fp ? "fp" : "dwarf").c('\n');
  for (uint32_t i = 0; i < module_count(); ++i) {
    const Module* m = module_at(i);
    for (uint32_t s = 0; s < m->nexec; ++s) {
      out.s("module ").x(m->exec[s].start).c(' ').x(m->exec[s].end).c(' ').x(m->exec[s].offset);
      out.c(' ').enc(m->path);
      if (m->build_id_len) out.s(" build-id=").hexbytes(m->build_id, m->build_id_len);
      out.s(" bias=").x(m->bias).c('\n');
    }
  }
  static const char* const kVia[] = {"none", "signal", "sweep", "self", "stw", "timeout", "start"};
  static_assert(sizeof(kVia) / sizeof(kVia[0]) == kViaCount, "a name for every Via");
  for (uint32_t i = 0; i < count; ++i) {
    prefetch_ahead(members, i, count, kSlotLinesText);
    yield_to_program(i);  // after the stops (stw never opens the window)
    Record* r = record_at(members[i]);
    Capture* c = slot_at(members[i]);
    if (abandoned(r, t.gen)) {  // its slot may still change: from the record only (claim.h)
      c->rec_gen = 0;  // listed from the record: never `same` next time
      char name[17] = {};
      memcpy(name, r->name, 16);
      out.s("thread tid=").u(static_cast<uint64_t>(r->tid.load())).s(" name=").enc(name[0] ? name : "?")
          .s(" state=running via=timeout");
      if (r->foreign) out.s(" tracked=0");
      out.c('\n');
      continue;
    }
    if (!is_shown(r, c)) continue;
    pid_t owner = c->kind == kBlocked ? owner_for_dump(r, members[i], c, members, count) : 0;
    if (t.record_token) {
      // The line less blocked_ns as fields; `same` when the base dump listed
      // exactly that, with these very frames (not replaced since).
      RecordLine now;
      memset(&now, 0, sizeof(now));
      now.tid = c->tid;
      now.owner = owner;
      now.kind = c->kind;
      now.call = c->kind == kBlocked ? c->call : 0;
      now.via = c->via;
      now.first_pc = c->first_pc && c->nframes;
      now.foreign = r->foreign;
      now.nframes = c->nframes;
      now.obj = c->kind == kBlocked ? c->obj : 0;
      now.obj2 = c->kind == kBlocked ? c->obj2 : 0;
      memcpy(now.name, c->name, sizeof(now.name));
      bool unchanged = base_gen && c->rec_gen == base_gen &&
                       static_cast<int32_t>(c->frames_gen - base_gen) <= 0 &&
                       memcmp(&now, &c->rec, sizeof(now)) == 0;
      c->rec = now;
      c->rec_gen = t.gen;
      if (unchanged) {
        same.c(same.size() ? ',' : ' ').u(static_cast<uint64_t>(c->tid));
        continue;
      }
    }
    out.s("thread tid=").u(static_cast<uint64_t>(c->tid)).s(" name=");
    char name[17] = {};
    memcpy(name, c->name, 16);
    out.enc(name[0] ? name : "?");
    if (c->kind == kBlocked) {
      out.s(" state=blocked call=").s(call_name(c->call)).s(" obj=").x(c->obj);
      uint64_t since = c->since_ns && c->since_ns < t.stop1_mono_ns ? t.stop1_mono_ns - c->since_ns : 0;
      out.s(" blocked_ns=").u(since);
      if (c->obj2) out.s(" mutex=").x(c->obj2);
      if (owner > 0) out.s(" owner=").u(static_cast<uint64_t>(owner));
    } else {
      out.s(" state=running");
    }
    TS_DCHECK(c->via < kViaCount && c->nframes <= kMaxFramesLimit);
    out.s(" via=").s(c->via < kViaCount ? kVia[c->via] : "none");
    if (r->foreign) out.s(" tracked=0");
    // Keys added to v1 go last: readers match the older ones in order.
    if (c->first_pc && c->nframes) out.s(" first=pc");
    if (c->kind == kBlocked) out.s(" kind=").s(wait_kind_name(call_kind(c->call)));
    out.c('\n');
    frame_lines(out, c);
  }
  if (same.size()) out.s("same").raw(same.data(), same.size()).c('\n');
  out.s("end\n");
  return shown;
}

// 0, or the negative errno of the failed write.
long write_all(int fd, const char* p, size_t n) {
  while (n) {
    long w = raw_syscall(SYS_write, fd, reinterpret_cast<long>(p), static_cast<long>(n));
    if (w == -EINTR) continue;
    if (w < 0) return w;
    if (w == 0) return -EIO;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

// Words for the errors a dump write meets (strerror is not ours to call from
// here: it may translate, and take locale locks).
const char* errno_words(long err) {
  switch (-err) {
    case ENOSPC: return "no space left on device";
    case EDQUOT: return "disk quota exceeded";
    case EACCES: return "permission denied";
    case EPERM: return "operation not permitted";
    case EROFS: return "read-only file system";
    case ENOENT: return "no such file or directory";
    case ENOTDIR: return "not a directory";
    case ELOOP: return "too many levels of symbolic links";
    case ENAMETOOLONG: return "file name too long";
    case EIO: return "input/output error";
    case EFBIG: return "file too large";
    case EMFILE: return "too many open files";
    case ENFILE: return "too many open files in system";
    case ENOMEM: return "out of memory";
    case EXDEV: return "cross-device link";
    default: return nullptr;
  }
}

// "error: cannot write dump PATH: STEP: WORDS (errno N)"
void report_failure(const char* path, const char* step, long err) {
  Line l;
  l.s("error: cannot write dump ").s(path).s(": ").s(step).s(": ");
  if (const char* w = errno_words(err)) l.s(w).c(' ');
  l.s("(errno ").i(-err).s(")");
  log_line(l);
}

// A name that is taken is skipped; that is worth a warning unless it is a
// plain file of ours (a dump of an earlier image of this pid, after exec).
// Returns true for our own file (an earlier image of this pid wrote it
// before an exec): those are skipped silently and without limit.
bool report_skip(const char* path) {
  struct stat st;
  if (raw_syscall(SYS_newfstatat, AT_FDCWD, reinterpret_cast<long>(path), reinterpret_cast<long>(&st),
                  AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISREG(st.st_mode) && st.st_uid == static_cast<uid_t>(raw_syscall(SYS_geteuid)))
    return true;
  Line l;
  l.s("warning: ").s(path).s(" already exists (a file or link threadsnap did not write); not replaced, trying the next name");
  log_line(l);
  return false;
}

}  // namespace

void writer_after_fork_child() {
  if (g_seq) g_seq = 0;  // a page written is a copy-on-write fault in the child
  if (g_written) g_written = 0;
}

namespace {

// 1 while unnamed temporary files work in the dump directory; 0 after the
// file system or /proc refused them once (then named temporaries are used).
int g_unnamed_ok = 1;

// Tests only: the written file waits this long for its name (a process
// killed or exec'ed meanwhile must leave nothing behind).
void test_write_delay() {
  if (!g_config.test_write_delay_ms) return;
  struct timespec ts = {g_config.test_write_delay_ms / 1000, (g_config.test_write_delay_ms % 1000) * 1000000L};
  raw_syscall(SYS_nanosleep, reinterpret_cast<long>(&ts), 0);
}

// A record dump is .rec (writer.h): `threadsnap dump` and readers of .txt
// never see one.
const char* g_suffix = ".txt";

void final_name(Line& out, pid_t pid, uint32_t seq) {
  out.s(g_config.dir).s("/threadsnap.").u(static_cast<uint64_t>(pid)).c('.').u(seq).s(g_suffix);
}

// Gives the unnamed file `fd` the name `path`; never replaces anything there
// (-EEXIST). AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the /proc link works
// for everybody where /proc is mounted.
long link_unnamed(long fd, const char* path) {
  long rc = raw_syscall6(SYS_linkat, fd, reinterpret_cast<long>(""), AT_FDCWD,
                        reinterpret_cast<long>(path), AT_EMPTY_PATH, 0);
  if (rc == 0 || rc == -EEXIST) return rc;
  Line proc;
  // thread-self: the dumper has a file table of its own (entry.cpp), which
  // /proc/self/fd (the main thread's) does not show.
  proc.s("/proc/thread-self/fd/").u(static_cast<uint64_t>(fd));
  return raw_syscall6(SYS_linkat, AT_FDCWD, reinterpret_cast<long>(proc.data()), AT_FDCWD,
                     reinterpret_cast<long>(path), AT_SYMLINK_FOLLOW, 0);
}

enum class Outcome { kDone, kFailed, kUnsupported };

void temp_name(Line& out, pid_t pid, uint32_t seq) {
  out.s(g_config.dir).s("/.threadsnap.").u(static_cast<uint64_t>(pid)).c('.').u(seq).s(".tmp");
}

// Puts the whole dump at tmp: links the unnamed file fd (written already)
// there, or, with fd < 0, creates the file there (never through a link) and
// writes it. 0, or -errno with *step naming the step that failed; a failed
// write leaves no file.
long place_temp(long fd, const Text& text, const char* tmp, const char** step) {
  if (fd >= 0) {
    *step = "link";
    return link_unnamed(fd, tmp);
  }
  *step = "create";
  long f = raw_syscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>(tmp),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (f < 0) return f;
  *step = "write";
  long err = write_all(static_cast<int>(f), text.data(), text.size());
  if (!err) test_write_delay();
  raw_syscall(SYS_close, f);
  if (err) raw_syscall(SYS_unlinkat, AT_FDCWD, reinterpret_cast<long>(tmp), 0);
  return err;
}

// Gives the dump its name, trying one sequence number after another: the
// whole dump goes to the temporary name (place_temp), which is renamed to the
// final one. A name that is taken (a leftover, a planted file or link) is
// left alone and the next number tried. kUnsupported (and the number given
// back) when the unnamed file fd cannot be linked here.
Outcome name_dump(long fd, const Text& text, pid_t pid, Line& written) {
  for (int attempt = 0; attempt < 64 && g_seq < 100000000;) {
    uint32_t seq = ++g_seq;
    Line path, tmp_path;
    final_name(path, pid, seq);
    temp_name(tmp_path, pid, seq);
    const char* step = "";
    long rc = place_temp(fd, text, tmp_path.data(), &step);
    if (rc == -EEXIST) {
      if (!report_skip(tmp_path.data())) ++attempt;
      continue;
    }
    if (rc < 0 && fd >= 0 && rc != -ENOSPC && rc != -EDQUOT && rc != -EACCES && rc != -EROFS) {
      --g_seq;  // no /proc, or a file system that cannot link it: use a name
      return Outcome::kUnsupported;
    }
    if (rc < 0) {
      report_failure(tmp_path.data(), step, rc);
      return Outcome::kFailed;
    }
    rc = raw_syscall6(SYS_renameat2, AT_FDCWD, reinterpret_cast<long>(tmp_path.data()), AT_FDCWD,
                      reinterpret_cast<long>(path.data()), RENAME_NOREPLACE, 0);
    if (rc == 0) {
      written.s(path.data());
      return Outcome::kDone;
    }
    raw_syscall(SYS_unlinkat, AT_FDCWD, reinterpret_cast<long>(tmp_path.data()), 0);
    if (rc == -EEXIST) {  // never replace what is there (a link, an old dump)
      if (!report_skip(path.data())) ++attempt;
      continue;
    }
    report_failure(path.data(), "rename", rc);
    return Outcome::kFailed;
  }
  log_msg("error: cannot write dump: no free file name in ", g_config.dir);
  return Outcome::kFailed;
}

// The dump is written into a file without a name (O_TMPFILE) and named only
// once whole (name_dump), so a watcher still sees IN_MOVED_TO of a whole
// file, and a process killed or exec'ed during the write leaves nothing
// behind (only between the link and the rename, two system calls, would a
// .tmp remain).
Outcome write_unnamed(const Text& text, pid_t pid, Line& written) {
  long fd = raw_syscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>(g_config.dir),
                        O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd == -EOPNOTSUPP || fd == -EISDIR || fd == -EINVAL) return Outcome::kUnsupported;
  long err = fd < 0 ? fd : write_all(static_cast<int>(fd), text.data(), text.size());
  if (err) {
    if (fd >= 0) raw_syscall(SYS_close, fd);
    Line path;
    final_name(path, pid, g_seq + 1);
    report_failure(path.data(), fd < 0 ? "create" : "write", err);
    return Outcome::kFailed;
  }
  test_write_delay();
  Outcome out = name_dump(fd, text, pid, written);
  raw_syscall(SYS_close, fd);
  return out;
}

}  // namespace

void write_dump(const uint32_t* members, uint32_t count, const DumpTimes& t) {
  static size_t last_size = 0;  // the dumper's only
  Text text(last_size + last_size / 8);
  uint32_t shown = format(text, members, count, t);
  last_size = text.size();
  g_suffix = t.record_token ? ".rec" : ".txt";
  if (t.record_token) g_local.record_base_gen = 0;  // until this one is written whole
  if (!text.ok()) {
    log_msg("error: cannot write dump: out of memory");
    return;
  }
  pid_t pid = raw_getpid();
  Line written;
  Outcome o = Outcome::kUnsupported;
  if (g_unnamed_ok && !g_config.test_named_temp) {
    o = write_unnamed(text, pid, written);
    if (o == Outcome::kUnsupported) g_unnamed_ok = 0;
  }
  if (o == Outcome::kUnsupported) o = name_dump(-1, text, pid, written);
  if (o != Outcome::kDone) return;
  if (t.record_token) {  // the base of this recorder's next record dump
    g_local.record_token = t.record_token;
    g_local.record_base_gen = t.gen;
    g_local.record_base_seq = g_seq;
  }
  control_set_last_dump(written.data(), ++g_written);
  if (!g_config.quiet) {
    Line l;
    l.s("wrote ").s(written.data()).s(" (").u(shown).s(" threads, stop1 ")
        .u(t.stop1_ns / 1000).s(" us, sweep ").u(t.sweep_ns / 1000).s(" us, stop2 ")
        .u(t.stop2_ns / 1000).s(" us)");
    log_line(l);
  }
}

}  // namespace threadsnap::detail
