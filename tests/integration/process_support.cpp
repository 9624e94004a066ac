// threadsnap integration-test harness: running a test program under the
// library, its output, signals and dumps (Process; declared in harness.h).
#include "integration/harness.h"

#include <fcntl.h>
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
#include <sstream>

extern char** environ;

#include "integration/text_util.h"

namespace threadsnap::testing {

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

}  // namespace threadsnap::testing
