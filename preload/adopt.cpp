// threadsnap: threads the library did not see start (found in
// /proc/self/task: a library loaded late, glibc's timer and AIO helpers, raw
// clones), and the threads that block the stop signal without our wrappers
// seeing it (SigBlk in /proc). All of it runs on the dumper before stop 1:
// it may allocate and read /proc, never while threads are held.
#include "preload/adopt.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>

#include <cstring>

#include "base/alloc.h"
#include "base/small_file.h"
#include "preload/entry.h"
#include "preload/registry.h"

namespace threadsnap::detail {

// The thread count the kernel gives (the "Threads:" line of
// /proc/self/status), zombie main thread included, or -1. Not /proc/self/stat:
// reading that sums the CPU time of every thread (13% of the dumper's CPU at
// 10,000 threads).
long kernel_thread_count() {
  char buf[4096];
  if (read_small_file("/proc/self/status", buf, sizeof(buf)) <= 0) return -1;
  const char* p = strstr(buf, "\nThreads:");
  if (!p) return -1;
  p += 9;
  while (*p == ' ' || *p == '\t') ++p;
  if (*p < '0' || *p > '9') return -1;
  long v = 0;
  while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
  return v;
}

namespace {

// An open-addressing set of tids, from the private allocator.
class TidSet {
 public:
  explicit TidSet(uint32_t n) {
    while (cap_ < 2 * (n + 1)) cap_ <<= 1;
    slots_ = static_cast<pid_t*>(ts_alloc(sizeof(pid_t) * cap_));
    if (slots_) memset(slots_, 0, sizeof(pid_t) * cap_);
  }
  ~TidSet() { ts_free(slots_); }
  bool ok() const { return slots_ != nullptr; }
  void insert(pid_t t) {
    for (uint32_t h = hash(t);; h = (h + 1) & (cap_ - 1)) {
      if (slots_[h] == t) return;
      if (!slots_[h]) { slots_[h] = t; return; }
    }
  }
  bool contains(pid_t t) const {
    for (uint32_t h = hash(t);; h = (h + 1) & (cap_ - 1)) {
      if (slots_[h] == t) return true;
      if (!slots_[h]) return false;
    }
  }

 private:
  uint32_t hash(pid_t t) const { return (static_cast<uint32_t>(t) * 2654435761u) & (cap_ - 1); }
  uint32_t cap_ = 16;
  pid_t* slots_ = nullptr;
};

void read_comm(pid_t tid, char* name, size_t size) {
  Line path;
  path.s("/proc/self/task/").u(static_cast<uint64_t>(tid)).s("/comm");
  long n = read_small_file(path.data(), name, size);
  if (n > 0 && name[n - 1] == '\n') name[n - 1] = 0;
}

// Status files kept open (keep_status_fds), the least recently read one
// replaced. An fd names the task it was opened for: once that thread is
// gone, reads fail (ESRCH) even if its tid is reused, and it is opened anew.
struct StatusFd {
  pid_t tid;
  int fd;  // -1: empty
  uint64_t last;
};
constexpr int kStatusFds = 8;
StatusFd g_status_fds[kStatusFds];
bool g_keep_status_fds = false;
uint64_t g_status_reads = 0;

// /proc/self/task/TID/status into buf (NUL-terminated); bytes read, or -1.
long read_status_file(pid_t tid, char* buf, size_t size) {
  StatusFd* slot = nullptr;
  if (g_keep_status_fds) {
    ++g_status_reads;
    for (StatusFd& e : g_status_fds) {
      if (e.fd >= 0 && e.tid == tid) {
        long n = raw_syscall(SYS_pread64, e.fd, reinterpret_cast<long>(buf),
                             static_cast<long>(size - 1), 0);
        if (n > 0) {
          buf[n] = 0;
          e.last = g_status_reads;
          return n;
        }
        raw_syscall(SYS_close, e.fd);  // gone (or its tid reused): open anew
        e.fd = -1;
      }
      if (!slot || (slot->fd >= 0 && (e.fd < 0 || e.last < slot->last))) slot = &e;
    }
  }
  Line path;
  path.s("/proc/self/task/").u(static_cast<uint64_t>(tid)).s("/status");
  if (!slot) return read_small_file(path.data(), buf, size);
  long fd;
  long n = read_small_file_open(path.data(), buf, size, &fd);
  if (n <= 0) {
    if (fd >= 0) raw_syscall(SYS_close, fd);
    return -1;
  }
  if (slot->fd >= 0) raw_syscall(SYS_close, slot->fd);
  *slot = {tid, static_cast<int>(fd), g_status_reads};
  return n;
}

}  // namespace

void keep_status_fds() {
  for (StatusFd& e : g_status_fds) e = {0, -1, 0};  // the old table's: not ours to close
  g_keep_status_fds = true;
}

namespace {
// A hex signal mask's line ("SigBlk:\t...") in buf: whether it has sig.
bool mask_has(const char* buf, const char* key, int sig) {
  const char* p = strstr(buf, key);
  if (!p) return false;
  uint64_t mask = 0;
  for (p += strlen(key); (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'); ++p)
    mask = mask * 16 + static_cast<uint64_t>(*p <= '9' ? *p - '0' : *p - 'a' + 10);
  return (mask >> (sig - 1)) & 1;
}
}  // namespace

// /proc/self/task/TID/status of one of our threads: whether it blocks our
// stop signal (SigBlk), whether that signal is pending for it (SigPnd or
// ShdPnd) and whether it is a zombie (State Z: ended, its process lives
// on). False if the file cannot be read (no /proc, gone). No allocation, no
// lock.
bool read_task_status(pid_t tid, bool* blocks_stop, bool* zombie, bool* stop_pending) {
  *blocks_stop = false;
  *zombie = false;
  if (stop_pending) *stop_pending = false;
  char buf[2048];
  if (read_status_file(tid, buf, sizeof(buf)) <= 0) return false;
  if (const char* p = strstr(buf, "State:\t")) *zombie = p[7] == 'Z';
  int sig = g_stop_signal;
  *blocks_stop = mask_has(buf, "SigBlk:\t", sig);
  if (stop_pending) *stop_pending = mask_has(buf, "SigPnd:\t", sig) || mask_has(buf, "ShdPnd:\t", sig);
  return true;
}

// Adopts every thread of /proc/self/task that the registry does not know as
// a foreign record, and forgets foreign records whose thread is gone or has
// since been registered. A thread between clone and its trampoline may have
// no tid in its record yet: while any such thread exists, no unknown tid is
// adopted (it may be that one); a later dump adopts it. The dumper itself is
// never adopted, nor a zombie task (a main thread that ended with a raw
// exit while the process lives on). A new foreign thread that blocks our
// stop signal (glibc's timer_create(SIGEV_THREAD) and AIO helpers block
// every signal) is marked skip_signal at once, so that not even the first
// stop waits the stop timeout for it (recheck_silent_threads follows it
// from then on).
// The scan of /proc/self/task is most of the dumper's CPU at 10,000 threads
// (issue 13). It is skipped when nothing says a thread may be untracked: the
// kernel's thread count equals the threads we know (program threads, foreign
// records, the dumper), no program thread ended since the last scan (an
// untracked birth could make up for it in the count), and every foreign
// record's thread still lives (the same).
bool task_scan_needed() {
  static uint64_t exits_at_last_scan = ~0ull;
  uint64_t exits = g_tracked_exits.load(std::memory_order_relaxed);
  long kernel = kernel_thread_count();
  bool needed = exits != exits_at_last_scan || kernel < 0 ||
                static_cast<uint64_t>(kernel) != g_live_threads.load() + g_foreign_count.load() + 1;
  if (!needed) {
    pid_t pid = raw_getpid();
    uint32_t hw = g_hi_water.load(std::memory_order_acquire);
    for (uint32_t i = 0; i < hw && !needed && g_foreign_count.load(); ++i) {
      if (state_kind(g_state[i].load(std::memory_order_relaxed)) == kFree) continue;
      Record* r = record_at(i);
      if (r->foreign && raw_tgkill(pid, r->tid.load(std::memory_order_relaxed), 0) == -ESRCH)
        needed = true;
    }
  }
  if (needed) exits_at_last_scan = exits;
  return needed;
}

void adopt_foreign_threads() {
  auto& tids = g_local.task_tids;
  uint32_t ntids = list_tasks(tids, kMaxThreads);
  if (!ntids) return;
  pid_t self = raw_gettid();
  uint32_t hw = g_hi_water.load(std::memory_order_acquire);
  TidSet known(hw), present(ntids);
  if (!known.ok() || !present.ok()) return;
  for (uint32_t i = 0; i < ntids; ++i) present.insert(tids[i]);
  g_registry_lock.lock();
  bool starting = false;
  for (uint32_t i = 0; i < hw; ++i) {
    Kind k = state_kind(g_state[i].load());
    if (k == kFree) continue;
    Record* r = record_at(i);
    if (!r->tid.load(std::memory_order_relaxed)) starting = true;
    if (!r->foreign) known.insert(r->tid.load(std::memory_order_relaxed));
  }
  for (uint32_t i = 0; i < hw; ++i) {
    if (state_kind(g_state[i].load()) == kFree) continue;
    Record* r = record_at(i);
    pid_t t = r->tid.load(std::memory_order_relaxed);
    if (r->foreign && (!present.contains(t) || known.contains(t))) registry_release(r);
    else if (r->foreign) known.insert(t);
  }
  for (uint32_t i = 0; i < ntids && !starting; ++i) {
    pid_t t = tids[i];
    if (t == self || known.contains(t) || registry_recently_exited(t)) continue;
    bool blocks_stop = false, zombie = false;
    if (read_task_status(t, &blocks_stop, &zombie) && zombie) continue;
    Record* r = registry_add(kRunning, true);
    if (!r) break;
    r->tid.store(t, std::memory_order_relaxed);
    r->skip_signal.store(blocks_stop, std::memory_order_relaxed);
    r->skip_by_proc = blocks_stop;
    char name[16] = {};
    read_comm(t, name, sizeof(name));
    registry_set_name(r, name);
  }
  g_registry_lock.unlock();
}

// Threads that did not answer the last stop: if one still blocks our stop
// signal (SigBlk in /proc/self/task/TID/status), the next stops do not signal
// or wait for it (it is listed via=timeout at once) until it unblocks it.
// A whole-process pause of the stop timeout at every dump would harm the
// program more than a missing stack.
void recheck_silent_threads() {
  uint32_t hw = g_hi_water.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < hw; ++i) {
    if (state_kind(g_state[i].load(std::memory_order_relaxed)) == kFree) continue;
    Record* r = record_at(i);
    // A tracked thread's skip_signal follows its pthread_sigmask calls
    // (shim/signals.cpp); /proc is read only for a thread that did not answer
    // and while its skip came from /proc (a mask the wrappers did not see).
    if (!r->timed_out && !r->skip_by_proc) continue;
    r->timed_out = false;
    bool blocked = false, zombie = false;
    read_task_status(r->tid.load(std::memory_order_relaxed), &blocked, &zombie);
    // A zombie (a thread that ended without us seeing it) cannot answer either.
    r->skip_signal.store(blocked || zombie, std::memory_order_relaxed);
    r->skip_by_proc = blocked || zombie;
  }
}

// Reads the tids of /proc/self/task with getdents64 (no malloc). Dumper
// (a static buffer: one caller at a time).
uint32_t list_tasks(pid_t* tids, uint32_t max) {
  int fd = static_cast<int>(raw_syscall(SYS_openat, AT_FDCWD,
                                        reinterpret_cast<long>("/proc/self/task"),
                                        O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd < 0) return 0;
  uint32_t n = 0;
  auto& buf = g_local.task_dirents;
  for (;;) {
    long got = raw_syscall(SYS_getdents64, fd, reinterpret_cast<long>(buf), sizeof(buf));
    if (got <= 0) break;
    for (long off = 0; off < got;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      off += d->d_reclen;
      if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
      long tid = 0;
      for (const char* p = d->d_name; *p; ++p) tid = tid * 10 + (*p - '0');
      if (n < max) tids[n++] = static_cast<pid_t>(tid);
    }
  }
  raw_syscall(SYS_close, fd);
  return n;
}

}  // namespace threadsnap::detail
