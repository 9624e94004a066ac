// threadsnap integration-test harness (see harness.h).
#include "integration/harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace threadsnap::testing {

// ---- paths ------------------------------------------------------------------

namespace {
std::string EnvOr(const char* name, const std::string& dflt) {
  const char* v = getenv(name);
  return v && *v ? std::string(v) : dflt;
}

bool ParseU64(const std::string& s, uint64_t* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = strtoull(s.c_str(), &end, 0);
  if (errno || *end) return false;
  *out = v;
  return true;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::vector<std::string> Words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '%' && i + 2 < s.size()) {
      unsigned v;
      if (sscanf(s.substr(i + 1, 2).c_str(), "%2x", &v) == 1) {
        out += static_cast<char>(v);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

std::string ReadFile(const std::string& path, bool* ok = nullptr) {
  std::ifstream in(path, std::ios::binary);
  if (ok) *ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void RemoveTree(const std::string& dir) {
  if (dir.empty()) return;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      unlink((dir + "/" + n).c_str());
    }
    closedir(d);
  }
  rmdir(dir.c_str());
}
}  // namespace

std::string LibPath() { return EnvOr("THREADSNAP_LIB", TopDir() + "/build/libthreadsnap.so"); }
std::string ProgramPath(const std::string& name) {
  return EnvOr("THREADSNAP_PROGRAMS", TopDir() + "/build/tests/programs") + "/" + name;
}
std::string TopDir() { return EnvOr("THREADSNAP_TOP", "."); }

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf)) return buf;
  return path;
}
std::string Basename(const std::string& path) {
  size_t s = path.rfind('/');
  return s == std::string::npos ? path : path.substr(s + 1);
}

std::string RunCommand(const std::string& cmd, int* status) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) {
    if (status) *status = -1;
    return out;
  }
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int st = pclose(f);
  if (status) *status = st;
  return out;
}

uint64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

bool WaitUntil(const std::function<bool()>& pred, milliseconds timeout, milliseconds poll) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

// ---- dump parsing ---------------------------------------------------------------

uint64_t ThreadRecord::LookupAddress(size_t i) const {
  if (i >= frames.size()) return 0;
  if (i == 0 && FirstFrameIsPc()) return frames[0];
  return frames[i] - 1;
}

const ThreadRecord* Dump::FindTid(pid_t tid) const {
  for (const auto& t : threads)
    if (t.tid == tid) return &t;
  return nullptr;
}

std::vector<const ThreadRecord*> Dump::FindName(const std::string& name) const {
  std::vector<const ThreadRecord*> out;
  for (const auto& t : threads)
    if (t.name == name) out.push_back(&t);
  return out;
}

const Module* Dump::ModuleFor(uint64_t addr) const {
  for (const auto& m : modules)
    if (addr >= m.start && addr < m.end) return &m;
  return nullptr;
}

uint64_t Dump::HeaderU64(const std::string& key, uint64_t dflt) const {
  auto it = header.find(key);
  uint64_t v;
  if (it == header.end() || !ParseU64(it->second, &v)) return dflt;
  return v;
}

std::string Dump::CheckWellFormed() const {
  std::string err;
  auto magic = header.find("threadsnap");
  if (magic == header.end() || magic->second != "1") err += "no 'threadsnap 1' line; ";
  if (!has_end) err += "no 'end' line; ";
  for (const char* k : {"pid", "exe", "time_ns", "mode", "threads"})
    if (!header.count(k)) err += std::string("no header '") + k + "'; ";
  if (HeaderU64("threads", ~0ull) != threads.size())
    err += "header threads=" + (header.count("threads") ? header.at("threads") : "?") +
           " but " + std::to_string(threads.size()) + " thread records; ";
  std::set<pid_t> seen;
  for (const auto& t : threads) {
    if (!seen.insert(t.tid).second) err += "tid " + std::to_string(t.tid) + " listed twice; ";
    if (t.via != "timeout" && t.frames.empty())
      err += "tid " + std::to_string(t.tid) + " has no frames; ";
  }
  if (modules.empty()) err += "no module lines; ";
  return err;
}

bool ParseDump(const std::string& text, Dump* out, std::string* error) {
  *out = Dump();
  out->text = text;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  ThreadRecord* cur = nullptr;
  bool in_body = false;
  auto fail = [&](const std::string& why) {
    if (error) *error = "line " + std::to_string(lineno) + ": " + why + ": '" + line + "'";
    return false;
  };
  while (std::getline(in, line)) {
    lineno++;
    if (out->has_end) {
      if (line.empty()) continue;
      return fail("text after 'end'");
    }
    if (lineno == 1) {
      if (line != "threadsnap 1") return fail("expected 'threadsnap 1'");
      out->header["threadsnap"] = "1";
      continue;
    }
    if (line.empty()) continue;
    if (line[0] == ' ' || line[0] == '\t') {  // a frame
      auto w = Words(line);
      uint64_t a;
      if (!cur || w.empty() || w[0].rfind("0x", 0) != 0 || !ParseU64(w[0], &a))
        return fail("bad frame line");
      cur->frames.push_back(a);
      continue;
    }
    auto w = Words(line);
    const std::string& kind = w[0];
    if (kind == "end") {
      out->has_end = true;
      cur = nullptr;
      continue;
    }
    if (kind == "module") {
      in_body = true;
      cur = nullptr;
      Module m;
      if (w.size() < 5 || !ParseU64(w[1], &m.start) || !ParseU64(w[2], &m.end) ||
          !ParseU64(w[3], &m.offset))
        return fail("bad module line");
      m.path = w[4];
      for (size_t i = 5; i < w.size(); i++) {
        size_t eq = w[i].find('=');
        if (eq == std::string::npos) continue;
        m.keys[w[i].substr(0, eq)] = w[i].substr(eq + 1);
      }
      uint64_t b;
      if (m.keys.count("bias") && ParseU64(m.keys["bias"], &b)) m.bias = b;
      out->modules.push_back(m);
      continue;
    }
    if (kind == "thread") {
      in_body = true;
      ThreadRecord t;
      t.line = line;
      for (size_t i = 1; i < w.size(); i++) {
        size_t eq = w[i].find('=');
        if (eq == std::string::npos) return fail("thread field without '='");
        t.fields[w[i].substr(0, eq)] = w[i].substr(eq + 1);
      }
      uint64_t v;
      if (!t.fields.count("tid") || !ParseU64(t.fields["tid"], &v)) return fail("no tid");
      t.tid = static_cast<pid_t>(v);
      t.name = PercentDecode(t.fields["name"]);
      t.state = t.fields["state"];
      t.via = t.fields["via"];
      if (t.state != "running" && t.state != "blocked") return fail("bad state");
      if (t.via.empty()) return fail("no via");
      if (t.fields.count("call")) t.call = t.fields["call"];
      if (t.fields.count("obj")) {
        if (t.fields["obj"].rfind("0x", 0) != 0 || !ParseU64(t.fields["obj"], &v))
          return fail("obj is not 0x hex");
        t.obj = v;
      }
      if (t.fields.count("blocked_ns")) {
        if (!ParseU64(t.fields["blocked_ns"], &v)) return fail("bad blocked_ns");
        t.blocked_ns = v;
      }
      out->threads.push_back(std::move(t));
      cur = &out->threads.back();
      continue;
    }
    if (in_body) {
      out->unknown_lines.push_back(line);
      cur = nullptr;
      continue;
    }
    // Header: "key value...".
    size_t sp = line.find(' ');
    out->header[line.substr(0, sp)] = sp == std::string::npos ? "" : line.substr(sp + 1);
  }
  if (lineno == 0) {
    if (error) *error = "empty dump";
    return false;
  }
  return true;
}

bool ReadDumpFile(const std::string& path, Dump* out, std::string* error) {
  bool ok;
  std::string text = ReadFile(path, &ok);
  if (!ok) {
    if (error) *error = "cannot read " + path;
    return false;
  }
  if (!ParseDump(text, out, error)) {
    if (error) *error = path + ": " + *error;
    return false;
  }
  out->path = path;
  return true;
}

// ---- symbols ----------------------------------------------------------------------

bool SymbolTable::Load(const std::string& path) {
  syms_.clear();
  for (const char* flags : {"", "-D"}) {
    std::string out = RunCommand(std::string("nm -C -S --defined-only ") + flags + " '" + path +
                                 "' 2>/dev/null");
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      // "ADDR SIZE TYPE NAME" or "ADDR TYPE NAME"
      std::istringstream ls(line);
      std::string a, b, c;
      if (!(ls >> a >> b)) continue;
      Sym s{0, 0, ""};
      std::string type;
      if (b.size() == 1) {
        type = b;
      } else {
        if (!(ls >> c) || c.size() != 1) continue;
        s.size = strtoull(b.c_str(), nullptr, 16);
        type = c;
      }
      if (!strchr("TtWwi", type[0])) continue;
      std::string name;
      std::getline(ls, name);
      size_t p = name.find_first_not_of(' ');
      if (p == std::string::npos) continue;
      s.name = name.substr(p);
      s.addr = strtoull(a.c_str(), nullptr, 16);
      syms_.push_back(s);
    }
    if (!syms_.empty()) break;
  }
  std::sort(syms_.begin(), syms_.end(), [](const Sym& x, const Sym& y) {
    return x.addr != y.addr ? x.addr < y.addr : x.size > y.size;
  });
  return !syms_.empty();
}

std::string SymbolTable::Lookup(uint64_t vaddr) const {
  auto it = std::upper_bound(syms_.begin(), syms_.end(), vaddr,
                             [](uint64_t v, const Sym& s) { return v < s.addr; });
  // Walk back over symbols at/below vaddr; prefer one whose extent covers it.
  while (it != syms_.begin()) {
    --it;
    if (it->size == 0 || vaddr < it->addr + it->size) return it->name;
    // Sized symbol that ends before vaddr: an earlier, larger one may still cover it.
    if (vaddr - it->addr > (1u << 20)) break;
  }
  return "";
}

std::string Symbolizer::Name(const ThreadRecord& t, size_t i) {
  uint64_t a = t.LookupAddress(i);
  const Module* m = dump_.ModuleFor(a);
  if (!m) return "";
  // One table per file for the whole run: the files do not change under us.
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<SymbolTable>> cache;
  std::shared_ptr<SymbolTable> tab;
  {
    std::lock_guard<std::mutex> g(mu);
    auto& slot = cache[m->path];
    if (!slot) {
      slot = std::make_shared<SymbolTable>();
      slot->Load(m->path);
    }
    tab = slot;
  }
  uint64_t bias = m->bias ? *m->bias : m->start - m->offset;
  return tab->Lookup(a - bias);
}

std::vector<std::string> Symbolizer::Names(const ThreadRecord& t) {
  std::vector<std::string> out;
  for (size_t i = 0; i < t.frames.size(); i++) out.push_back(Name(t, i));
  return out;
}

std::string Symbolizer::Describe(const ThreadRecord& t) {
  std::ostringstream os;
  os << t.line << "\n";
  for (size_t i = 0; i < t.frames.size(); i++) {
    const Module* m = dump_.ModuleFor(t.LookupAddress(i));
    char buf[32];
    snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(t.frames[i]));
    os << "    #" << i << " " << buf << " " << Name(t, i) << " in "
       << (m ? Basename(m->path) : std::string("?")) << "\n";
  }
  return os.str();
}

int FindChain(const std::vector<std::string>& names, const std::vector<std::string>& chain) {
  if (chain.empty()) return 0;
  for (size_t i = 0; i + chain.size() <= names.size(); i++) {
    bool ok = true;
    for (size_t j = 0; j < chain.size() && ok; j++) ok = names[i + j] == chain[j];
    if (ok) return static_cast<int>(i);
  }
  return -1;
}

bool HasLibraryFrame(const Dump& d, const ThreadRecord& t) {
  std::string lib = RealPath(LibPath());
  for (size_t i = 0; i < t.frames.size(); i++) {
    for (uint64_t a : {t.frames[i], t.LookupAddress(i)}) {
      const Module* m = d.ModuleFor(a);
      if (m && (RealPath(m->path) == lib || Basename(m->path) == "libthreadsnap.so")) return true;
    }
  }
  return false;
}

// ---- /proc ---------------------------------------------------------------------------

std::vector<pid_t> TaskIds(pid_t pid) {
  std::vector<pid_t> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] >= '0' && e->d_name[0] <= '9') out.push_back(atoi(e->d_name));
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

char TaskState(pid_t pid, pid_t tid) {
  std::string s = ReadFile("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/stat");
  size_t p = s.rfind(')');
  if (p == std::string::npos || p + 2 >= s.size()) return 0;
  return s[p + 2];
}

long TaskSyscall(pid_t pid, pid_t tid) {
  std::string s =
      ReadFile("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/syscall");
  if (s.empty()) return -2;
  if (s.rfind("running", 0) == 0) return -1;
  return strtol(s.c_str(), nullptr, 10);
}

// ---- expectations ---------------------------------------------------------------------

bool ParseExpectation(const std::string& line, Expectation* e) {
  auto w = Words(line);
  if ((w.size() != 7 && w.size() != 8) || w[0] != "expect") return false;
  e->fields.clear();
  if (w.size() == 8 && w[7] != "-") {
    for (const auto& kv : Split(w[7], ',')) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos) return false;
      e->fields[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  e->name = w[1];
  e->tid = atoi(w[2].c_str());
  e->state = w[3];
  e->call = w[4] == "-" ? "" : w[4];
  e->obj.reset();
  uint64_t v;
  if (w[5] != "-") {
    if (!ParseU64(w[5], &v)) return false;
    e->obj = v;
  }
  std::string chain = w[6];
  e->chain_at_top = !chain.empty() && chain[0] == '^';
  if (e->chain_at_top) chain = chain.substr(1);
  e->chain = Split(chain, ',');
  return e->tid > 0;
}

std::string CheckThread(const Dump& d, Symbolizer& sym, const ThreadRecord& t,
                        const Expectation& e, const std::string& mode,
                        const std::string& want_via_override) {
  std::ostringstream err;
  if (t.name != e.name) err << "name '" << t.name << "' != '" << e.name << "'; ";
  if (t.state != e.state) err << "state " << t.state << " != " << e.state << "; ";
  if (e.state == "blocked") {
    if (t.call != e.call) err << "call '" << t.call << "' != '" << e.call << "'; ";
    if (e.obj) {
      if (!t.obj)
        err << "no obj (expected 0x" << std::hex << *e.obj << std::dec << "); ";
      else if (*t.obj != *e.obj)
        err << "obj 0x" << std::hex << *t.obj << " != 0x" << *e.obj << std::dec << "; ";
    }
    if (!t.blocked_ns) err << "no blocked_ns; ";
    std::string want_via = !want_via_override.empty() ? want_via_override
                           : mode == "stw"            ? "stw"
                                                      : "sweep";
    if (t.via != want_via) err << "via=" << t.via << " (expected " << want_via << "); ";
  } else {
    if (t.fields.count("call")) err << "running thread has call=" << t.call << "; ";
    std::string want_via = !want_via_override.empty() ? want_via_override
                           : mode == "stw"            ? "stw"
                                                      : "signal";
    if (t.via != want_via) err << "via=" << t.via << " (expected " << want_via << "); ";
  }
  for (const auto& [k, v] : e.fields) {
    auto it = t.fields.find(k);
    if (it == t.fields.end())
      err << "no " << k << "= (expected " << v << "); ";
    else if (it->second != v)
      err << k << "=" << it->second << " != " << v << "; ";
  }
  auto names = sym.Names(t);
  int at = FindChain(names, e.chain);
  if (at < 0 || (e.chain_at_top && at != 0)) {
    err << "chain ";
    for (auto& c : e.chain) err << c << " ";
    err << (at < 0 ? "not found" : "not at frame 0") << "; ";
  }
  if (HasLibraryFrame(d, t)) err << "shows a frame inside libthreadsnap; ";
  std::string s = err.str();
  if (!s.empty()) s = "thread " + e.name + ": " + s + "\n" + sym.Describe(t);
  return s;
}

// ---- Process ---------------------------------------------------------------------------

Process::~Process() {
  if (pid_ > 0 && !reaped_) {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    int st;
    waitpid(pid_, &st, 0);
    reaped_ = true;
  }
  if (pid_ > 0) kill(-pid_, SIGKILL);  // leftovers of the group (forked children)
  if (stdin_fd_ >= 0) close(stdin_fd_);
  if (reader_.joinable()) reader_.join();
  const char* keep = getenv("THREADSNAP_TEST_KEEP");
  if (!(keep && *keep == '1')) RemoveTree(dir_);
}

bool Process::Start(const RunOptions& opts, std::string* error) {
  path_ = opts.program.find('/') == std::string::npos ? ProgramPath(opts.program) : opts.program;
  if (access(path_.c_str(), X_OK) != 0) {
    *error = "program not built: " + path_;
    return false;
  }
  char tmpl[] = "/tmp/threadsnap-test.XXXXXX";
  if (!mkdtemp(tmpl)) {
    *error = "mkdtemp failed";
    return false;
  }
  dir_ = tmpl;

  std::vector<std::string> env;
  for (char** e = environ; *e; e++) {
    std::string s = *e;
    if (s.rfind("LD_PRELOAD=", 0) == 0 || s.rfind("THREADSNAP_", 0) == 0) continue;
    env.push_back(s);
  }
  if (opts.preload) {
    std::string lib = LibPath();
    if (access(lib.c_str(), R_OK) != 0) {
      *error = "library not built: " + lib;
      return false;
    }
    env.push_back("LD_PRELOAD=" + lib);
  }
  std::map<std::string, std::string> extra = opts.env;
  if (!extra.count("THREADSNAP_DIR")) extra["THREADSNAP_DIR"] = dir_;
  // The tests read the library's lines (wrote ..., warnings) on stderr; by
  // default they go to a log file in the dump directory.
  if (!extra.count("THREADSNAP_LOG")) extra["THREADSNAP_LOG"] = "stderr";
  for (auto& [k, v] : extra) {
    std::string val = v;
    size_t at = val.find("@DIR@");
    if (at != std::string::npos) val.replace(at, 5, dir_);
    env.push_back(k + "=" + val);
  }

  std::vector<std::string> args{path_};
  args.insert(args.end(), opts.args.begin(), opts.args.end());
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
    *error = "pipe failed";
    return false;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    *error = "fork failed";
    return false;
  }
  if (pid == 0) {
    // Only async-signal-safe calls here: the test binary has threads.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execve(path_.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  setpgid(pid, pid);  // both sides, so kill(-pid) works at once
  pid_ = pid;
  close(in[0]);
  close(out[1]);
  close(err[1]);
  stdin_fd_ = in[1];
  int out_fd = out[0], err_fd = err[0];
  reader_ = std::thread([this, out_fd, err_fd] { ReaderLoop(out_fd, err_fd); });
  return true;
}

void Process::ReaderLoop(int out_fd, int err_fd) {
  // A program writes to stderr (the library's warnings, from its
  // constructor), then prints "ready" on stdout; a test that saw "ready"
  // must find that stderr text already collected. poll() scans the fds in
  // array order, so when it reports stdout readable, stderr bytes written
  // before those stdout bytes are already seen; each round therefore takes
  // stderr (index 1) before publishing stdout lines (index 0).
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    int r = poll(fds, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i : {1, 0}) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        open_fds--;
        continue;
      }
      std::lock_guard<std::mutex> g(mu_);
      if (i == 1) {
        stderr_.append(buf, n);
        if (getenv("THREADSNAP_TEST_VERBOSE")) fwrite(buf, 1, n, stderr);
      } else {
        partial_.append(buf, n);
        size_t nl;
        while ((nl = partial_.find('\n')) != std::string::npos) {
          lines_.push_back(partial_.substr(0, nl));
          partial_.erase(0, nl + 1);
        }
      }
      cv_.notify_all();
    }
  }
  std::lock_guard<std::mutex> g(mu_);
  if (!partial_.empty()) lines_.push_back(partial_);
  partial_.clear();
  eof_ = true;
  cv_.notify_all();
}

int Process::WaitForLine(const std::function<bool(const std::string&)>& pred,
                         milliseconds timeout, size_t from) {
  std::unique_lock<std::mutex> g(mu_);
  auto deadline = Clock::now() + timeout;
  size_t i = from;
  for (;;) {
    for (; i < lines_.size(); i++)
      if (pred(lines_[i])) return static_cast<int>(i);
    if (eof_) return -1;
    if (cv_.wait_until(g, deadline) == std::cv_status::timeout) {
      for (; i < lines_.size(); i++)
        if (pred(lines_[i])) return static_cast<int>(i);
      return -1;
    }
  }
}

bool Process::WaitForExactLine(const std::string& line, milliseconds timeout) {
  return WaitForLine([&](const std::string& l) { return l == line; }, timeout) >= 0;
}

std::optional<std::string> Process::WaitForPrefix(const std::string& prefix, milliseconds timeout,
                                                  size_t from) {
  int i = WaitForLine([&](const std::string& l) { return l.rfind(prefix, 0) == 0; }, timeout, from);
  if (i < 0) return std::nullopt;
  std::lock_guard<std::mutex> g(mu_);
  return lines_[i];
}

std::vector<std::string> Process::Lines() {
  std::lock_guard<std::mutex> g(mu_);
  return lines_;
}

size_t Process::LineCount() {
  std::lock_guard<std::mutex> g(mu_);
  return lines_.size();
}

std::string Process::Stderr() {
  std::lock_guard<std::mutex> g(mu_);
  return stderr_;
}

std::map<std::string, pid_t> Process::Tids() {
  std::map<std::string, pid_t> out;
  for (const auto& l : Lines()) {
    auto w = Words(l);
    if (w.size() == 3 && w[0] == "tid") out[w[1]] = atoi(w[2].c_str());
  }
  return out;
}

std::vector<Expectation> Process::Expectations() {
  std::vector<Expectation> out;
  for (const auto& l : Lines()) {
    Expectation e;
    if (l.rfind("expect ", 0) == 0 && ParseExpectation(l, &e)) out.push_back(e);
  }
  return out;
}

bool Process::Write(const std::string& s) {
  if (stdin_fd_ < 0) return false;
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(stdin_fd_, s.data() + off, s.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += n;
  }
  return true;
}

void Process::CloseStdin() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
}

bool Process::Signal(int sig) { return pid_ > 0 && !reaped_ && kill(pid_, sig) == 0; }

bool Process::WaitExit(milliseconds timeout, int* status) {
  if (reaped_) {
    if (status) *status = status_;
    return true;
  }
  bool ok = WaitUntil(
      [&] {
        int st;
        pid_t r = waitpid(pid_, &st, WNOHANG);
        if (r == pid_) {
          reaped_ = true;
          status_ = st;
          return true;
        }
        return false;
      },
      timeout, milliseconds(5));
  if (ok && status) *status = status_;
  if (ok) {
    // Wait for the reader to see EOF so that all output is collected.
    std::unique_lock<std::mutex> g(mu_);
    cv_.wait_for(g, std::chrono::seconds(5), [&] { return eof_; });
  }
  return ok;
}

bool Process::Exited() {
  if (reaped_) return true;
  int st;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    status_ = st;
  }
  return reaped_;
}

std::string Process::DumpPath(int seq) const {
  return dir_ + "/threadsnap." + std::to_string(pid_) + "." + std::to_string(seq) + ".txt";
}

bool Process::DumpExists(int seq) const { return access(DumpPath(seq).c_str(), F_OK) == 0; }

bool Process::WaitDump(int seq, Dump* out, std::string* error, milliseconds timeout) {
  std::string path = DumpPath(seq);
  bool exited = false;
  bool ok = WaitUntil(
      [&] {
        if (access(path.c_str(), F_OK) == 0) return true;
        if (Exited()) {
          exited = true;
          return true;
        }
        return false;
      },
      timeout, milliseconds(1));
  if (!ok || (exited && access(path.c_str(), F_OK) != 0)) {
    *error = (exited ? "program exited (status " + std::to_string(status_) + ") before dump "
                     : "timed out waiting for dump ") +
             path + "\nstderr:\n" + Stderr();
    if (!exited) *error += "\n" + DescribeHang();
    return false;
  }
  if (seq > dumps_) dumps_ = seq;
  if (!ReadDumpFile(path, out, error)) return false;
  if (!out->has_end) {
    *error = path + " has the final name but no 'end' line";
    return false;
  }
  return true;
}

std::string Process::DescribeHang() {
  std::ostringstream os;
  os << "threads of " << pid_ << " (tid comm state syscall):\n";
  for (pid_t t : TaskIds(pid_)) {
    std::string base = "/proc/" + std::to_string(pid_) + "/task/" + std::to_string(t);
    std::string comm = ReadFile(base + "/comm");
    if (!comm.empty() && comm.back() == '\n') comm.pop_back();
    os << "  " << t << " " << comm << " " << TaskState(pid_, t) << " " << TaskSyscall(pid_, t)
       << "\n";
  }
  std::string bt = RunCommand("timeout 60 gdb -p " + std::to_string(pid_) +
                              " -batch -ex 'thread apply all bt 30' 2>&1 | grep -E '^(Thread|#)'");
  // Group threads with the same stack (by function names), so that a
  // thousand parked threads take one entry and the odd ones stand out.
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;  // stack -> threads
  std::map<std::string, size_t> index;
  std::string head, stack, key;
  auto flush = [&] {
    if (head.empty()) return;
    auto it = index.find(key);
    if (it == index.end()) {
      index[key] = groups.size();
      groups.push_back({stack, {head}});
    } else {
      groups[it->second].second.push_back(head);
    }
    head.clear();
    stack.clear();
    key.clear();
  };
  std::istringstream in(bt);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Thread", 0) == 0) {
      flush();
      head = line;
      continue;
    }
    stack += "  " + line + "\n";
    // Function name: the word before " (" after the frame address/"in".
    size_t in_pos = line.find(" in ");
    size_t start = in_pos != std::string::npos ? in_pos + 4 : line.find(' ') + 2;
    size_t paren = line.find(" (", start);
    key += line.substr(start, paren == std::string::npos ? std::string::npos : paren - start) + ";";
  }
  flush();
  std::sort(groups.begin(), groups.end(),
            [](const auto& a, const auto& b) { return a.second.size() < b.second.size(); });
  os << "gdb backtraces, grouped:\n";
  size_t budget = 30000;
  for (const auto& [stk, threads] : groups) {
    std::string entry = std::to_string(threads.size()) + " thread(s), e.g. " + threads[0] + "\n" + stk;
    if (entry.size() > budget) break;
    budget -= entry.size();
    os << entry;
  }
  return os.str();
}

bool Process::TriggerDump(Dump* out, std::string* error, milliseconds timeout, int sig) {
  int seq = dumps_ + 1;
  if (!Signal(sig)) {
    *error = "cannot signal the program (exited?)\nstderr:\n" + Stderr();
    return false;
  }
  return WaitDump(seq, out, error, timeout);
}

std::vector<pid_t> Process::OtherTasks(const std::set<pid_t>& program_tids) {
  std::vector<pid_t> out;
  for (pid_t t : TaskIds(pid_))
    if (!program_tids.count(t)) out.push_back(t);
  return out;
}

bool DumpUntil(Process& p, const std::function<bool(const Dump&)>& done, Dump* out,
               std::string* error, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (!p.TriggerDump(out, error)) return false;
    if (done(*out)) return true;
    if (Clock::now() >= deadline) {
      *error = "condition not reached before the deadline";
      return false;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
}

bool WaitSleeping(pid_t pid, const std::vector<pid_t>& tids, milliseconds timeout) {
  return WaitUntil(
      [&] {
        for (pid_t t : tids) {
          char s = TaskState(pid, t);
          if (s != 'S' && s != 'D') return false;
        }
        return true;
      },
      timeout, milliseconds(5));
}

std::string CheckExpectedDump(Process& p, const std::string& mode, Dump* out,
                              milliseconds timeout) {
  std::vector<Expectation> exps = p.Expectations();
  if (exps.empty()) return "the program printed no expect lines";
  std::vector<pid_t> blocked;
  for (const auto& e : exps)
    if (e.state == "blocked") blocked.push_back(e.tid);
  if (!WaitSleeping(p.pid(), blocked, timeout)) return "the blocked threads never all slept";
  std::string err;
  // A blocked thread's chain is fixed once it is in its call; a running one
  // may not have reached its loop yet, so wait for its chain too.
  auto matches = [&](const Dump& d) {
    Symbolizer sym(d);
    for (const auto& e : exps) {
      const ThreadRecord* t = d.FindTid(e.tid);
      if (!t || t->state != e.state || (e.state == "blocked" && t->call != e.call)) return false;
      if (e.state == "running" && FindChain(sym.Names(*t), e.chain) < 0) return false;
    }
    return true;
  };
  bool reached = DumpUntil(p, matches, out, &err, timeout);
  if (!out->has_end) return "no dump: " + err;
  std::ostringstream os;
  if (!reached) os << "threads never all showed their expected state/call (" << err << ")\n";
  std::string wf = out->CheckWellFormed();
  if (!wf.empty()) os << "malformed dump: " << wf << "\n";
  if (out->HeaderU64("pid") != static_cast<uint64_t>(p.pid()))
    os << "header pid " << out->header["pid"] << " != " << p.pid() << "\n";
  if (RealPath(out->header["exe"]) != RealPath(p.program_path()))
    os << "header exe " << out->header["exe"] << " != " << p.program_path() << "\n";
  if (out->header["mode"] != mode) os << "header mode " << out->header["mode"] << " != " << mode << "\n";
  for (const char* k : {"stop1_ns", "sweep_ns", "stop2_ns"})
    if (!out->header.count(k)) os << "no header " << k << "\n";
  std::set<pid_t> want;
  for (const auto& e : exps) want.insert(e.tid);
  for (const auto& t : out->threads)
    if (!want.count(t.tid)) os << "unexpected thread listed: " << t.line << "\n";
  Symbolizer sym(*out);
  for (const auto& e : exps) {
    const ThreadRecord* t = out->FindTid(e.tid);
    if (!t) {
      os << "thread " << e.name << " (tid " << e.tid << ") missing\n";
      continue;
    }
    os << CheckThread(*out, sym, *t, e, mode);
  }
  std::string s = os.str();
  if (!s.empty()) s += "dump: " + out->path + "\n";
  return s;
}

std::vector<std::string> LibraryWarnings(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& l : Split(text, '\n'))
    if (l.rfind("threadsnap:", 0) == 0 && l.rfind("threadsnap: wrote ", 0) != 0) out.push_back(l);
  return out;
}

std::vector<std::string> WroteLines(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& l : Split(text, '\n'))
    if (l.rfind("threadsnap: wrote ", 0) == 0) out.push_back(l);
  return out;
}

}  // namespace threadsnap::testing
