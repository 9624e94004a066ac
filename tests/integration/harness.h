// threadsnap integration-test harness: runs a real program of
// tests/programs under the preloaded library, talks to it over its
// stdin/stdout, triggers dumps, parses dump format v1 and resolves frames to
// function names with the program's own symbol table (nm).
//
// Not thread-safe unless a method says so: one test thread drives a Process.
// Every wait has a deadline; nothing here sleeps and hopes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace threadsnap::testing {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// ---- Paths exported by tests/run_tests.sh ---------------------------------

std::string LibPath();                               // $THREADSNAP_LIB
std::string ProgramPath(const std::string& name);    // $THREADSNAP_PROGRAMS/name
std::string TopDir();                                // $THREADSNAP_TOP
std::string RealPath(const std::string& path);       // realpath or the input
std::string Basename(const std::string& path);

// Output of a shell command (stdout only), or "" on failure.
std::string RunCommand(const std::string& cmd, int* status = nullptr);

// Realtime clock in ns (the clock of the dump's time_ns).
uint64_t RealtimeNs();

// Polls `pred` every `poll` until it is true or `timeout` passes.
bool WaitUntil(const std::function<bool()>& pred, milliseconds timeout,
               milliseconds poll = milliseconds(2));

// ---- Dump format v1 -------------------------------------------------------

struct Module {
  uint64_t start = 0, end = 0, offset = 0;
  std::string path;
  std::map<std::string, std::string> keys;  // build-id, bias, ...
  std::optional<uint64_t> bias;
};

struct ThreadRecord {
  pid_t tid = 0;
  std::string name;   // percent-decoded
  std::string state;  // running | blocked
  std::string call;   // "" unless blocked
  std::string via;
  std::optional<uint64_t> obj;
  std::optional<uint64_t> blocked_ns;
  std::map<std::string, std::string> fields;  // every key=value, raw
  std::vector<uint64_t> frames;
  std::string line;  // the raw "thread ..." line, for messages

  // The dump says it (`first=pc`); nothing else decides it.
  bool FirstFrameIsPc() const {
    auto it = fields.find("first");
    return it != fields.end() && it->second == "pc";
  }
  // The address to look up for frame i: the PC itself, or return address - 1.
  uint64_t LookupAddress(size_t i) const;
  bool BlockedIn(const std::string& c) const { return state == "blocked" && call == c; }
};

struct Dump {
  std::string path;
  std::string text;
  std::map<std::string, std::string> header;  // "pid" -> "4242", ...
  std::vector<Module> modules;
  std::vector<ThreadRecord> threads;
  std::vector<std::string> unknown_lines;
  bool has_end = false;

  const ThreadRecord* FindTid(pid_t tid) const;
  std::vector<const ThreadRecord*> FindName(const std::string& name) const;
  const Module* ModuleFor(uint64_t addr) const;
  uint64_t HeaderU64(const std::string& key, uint64_t dflt = 0) const;
  // "" if well-formed (magic, end, thread count, unique tids), else why not.
  std::string CheckWellFormed() const;
};

// Parses dump format v1. False (and *error) on a malformed dump.
bool ParseDump(const std::string& text, Dump* out, std::string* error);
bool ReadDumpFile(const std::string& path, Dump* out, std::string* error);

// Function symbols of one ELF file, from `nm` (static table, else dynamic).
class SymbolTable {
 public:
  bool Load(const std::string& path);
  // Name of the function containing `vaddr`, or "".
  std::string Lookup(uint64_t vaddr) const;
  size_t size() const { return syms_.size(); }

 private:
  struct Sym {
    uint64_t addr, size;
    std::string name;
  };
  std::vector<Sym> syms_;  // sorted by addr
};

// Resolves frames of a dump, module by module (bias from the module line).
class Symbolizer {
 public:
  explicit Symbolizer(const Dump& dump) : dump_(dump) {}
  // Function name for frame i, "" if unknown.
  std::string Name(const ThreadRecord& t, size_t i);
  std::vector<std::string> Names(const ThreadRecord& t);
  // "name@module" per frame, for failure messages.
  std::string Describe(const ThreadRecord& t);

 private:
  const Dump& dump_;
};

// Position of `chain` as a contiguous run in `names`, or -1.
int FindChain(const std::vector<std::string>& names, const std::vector<std::string>& chain);

// True if any frame of `t` lies in a module whose file is libthreadsnap.
bool HasLibraryFrame(const Dump& d, const ThreadRecord& t);

// ---- /proc helpers --------------------------------------------------------

std::vector<pid_t> TaskIds(pid_t pid);
char TaskState(pid_t pid, pid_t tid);    // 'R', 'S', ... or 0 if gone
long TaskSyscall(pid_t pid, pid_t tid);  // syscall number blocked in, -1 running, -2 unknown

// ---- Expectations printed by the programs ---------------------------------
// Programs print "expect NAME TID STATE CALL OBJ CHAIN [FIELDS]":
//   STATE blocked|running; CALL "-" when running; OBJ 0x.. or "-" (unchecked);
//   CHAIN comma-separated function names, innermost first; a leading '^'
//   means the chain must start at frame 0; FIELDS (optional, "-" for none)
//   comma-separated key=value pairs the thread line must show (owner=TID).
struct Expectation {
  std::string name;
  pid_t tid = 0;
  std::string state, call;
  std::optional<uint64_t> obj;
  std::vector<std::string> chain;
  bool chain_at_top = false;
  std::map<std::string, std::string> fields;
};
bool ParseExpectation(const std::string& line, Expectation* e);

// Checks one thread record against an expectation for the given mode
// ("stw" or "concurrent"); returns "" or a description of every mismatch.
// The expected `via` is stw / sweep (blocked) / signal (running) unless
// `want_via` names another.
std::string CheckThread(const Dump& d, Symbolizer& sym, const ThreadRecord& t,
                        const Expectation& e, const std::string& mode,
                        const std::string& want_via = "");

// ---- A program under the library -------------------------------------------

struct RunOptions {
  std::string program;                     // name in $THREADSNAP_PROGRAMS, or a path
  std::vector<std::string> args;
  std::map<std::string, std::string> env;  // extra environment; "@DIR@" in a value
                                           // becomes the private directory
  bool preload = true;                     // LD_PRELOAD=$THREADSNAP_LIB
};

class Process {
 public:
  Process() = default;
  ~Process();  // kills the process group, removes the private directory
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool Start(const RunOptions& opts, std::string* error);
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }
  const std::string& program_path() const { return path_; }

  // ---- stdout / stderr (collected by a reader thread) ----
  // Waits for a stdout line for which pred is true (also among lines already
  // seen, from index `from`). Returns its index or -1 on timeout/exit.
  int WaitForLine(const std::function<bool(const std::string&)>& pred, milliseconds timeout,
                  size_t from = 0);
  bool WaitForExactLine(const std::string& line, milliseconds timeout);
  // First line starting with prefix (from index `from`), waiting for it.
  std::optional<std::string> WaitForPrefix(const std::string& prefix, milliseconds timeout,
                                           size_t from = 0);
  std::vector<std::string> Lines();
  size_t LineCount();
  std::string Stderr();
  // "tid NAME TID" lines seen so far.
  std::map<std::string, pid_t> Tids();
  std::vector<Expectation> Expectations();

  // ---- control ----
  bool Write(const std::string& s);  // to the program's stdin
  void CloseStdin();
  bool Signal(int sig);
  // Waits for exit; *status as from waitpid. False on timeout.
  bool WaitExit(milliseconds timeout, int* status);
  bool Exited();

  // ---- dumps ----
  std::string DumpPath(int seq) const;
  // Sends the trigger signal and waits for the next dump file.
  bool TriggerDump(Dump* out, std::string* error, milliseconds timeout = milliseconds(15000),
                   int sig = 12 /* SIGUSR2 */);
  // Waits for dump number `seq` (1-based) to appear complete.
  bool WaitDump(int seq, Dump* out, std::string* error, milliseconds timeout);
  int dumps_taken() const { return dumps_; }
  bool DumpExists(int seq) const;
  // Each task's state and syscall, and gdb backtraces: for a dump that hangs.
  std::string DescribeHang();
  // Library threads: tasks of the process whose tid is not in `program_tids`.
  std::vector<pid_t> OtherTasks(const std::set<pid_t>& program_tids);

 private:
  void ReaderLoop(int out_fd, int err_fd);

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::string dir_, path_;
  int dumps_ = 0;
  bool reaped_ = false;
  int status_ = 0;

  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  std::string partial_;
  std::string stderr_;
  bool eof_ = false;
};

// Dumps until `done(dump)` is true, up to `timeout`. The last dump is left in
// *out (also when the condition was never met). Returns whether it was met.
bool DumpUntil(Process& p, const std::function<bool(const Dump&)>& done, Dump* out,
               std::string* error, milliseconds timeout);

// Waits until every tid is asleep in the kernel (state S or D).
bool WaitSleeping(pid_t pid, const std::vector<pid_t>& tids, milliseconds timeout);

// The whole check of a program that printed "expect" lines: waits until the
// blocked ones sleep, dumps until every expected thread shows its expected
// state and call (bounded by `timeout`), then checks that dump: well-formed,
// header (pid, exe, mode), exactly the expected threads, each once, and each
// thread's name, state, call, obj, via and call chain, with no frame inside
// libthreadsnap. Returns "" or every problem found; *out gets the dump.
std::string CheckExpectedDump(Process& p, const std::string& mode, Dump* out,
                              milliseconds timeout = milliseconds(10000));

// Non-"wrote" lines of the library on stderr ("threadsnap: ..." lines).
std::vector<std::string> LibraryWarnings(const std::string& stderr_text);
// "threadsnap: wrote PATH (N threads, ...)" lines.
std::vector<std::string> WroteLines(const std::string& stderr_text);

// ---- Shared expectations and helpers (expect_support.cpp) -----------------

// Ends the program by closing its stdin (after writing `quit`, if any); it
// must exit 0 on its own within `timeout`. Failures show the FAIL lines and
// the stderr of the program, or where it hangs.
void ExpectCleanExit(Process& p, milliseconds timeout = milliseconds(10000));
void ExpectCleanExit(Process& p, const std::string& quit,
                     milliseconds timeout = milliseconds(15000));
// Lines joined, each ending in a newline (for failure messages).
std::string JoinLines(const std::vector<std::string>& v);
// Every "tid NAME TID" line the program printed, from line `from` on, in
// order (a name may repeat), and their tids as a set.
std::vector<std::pair<std::string, pid_t>> TidLines(Process& p, size_t from = 0);
std::set<pid_t> AllTids(Process& p, size_t from = 0);
// The program's lines that start with "FAIL".
std::vector<std::string> FailLines(Process& p);

}  // namespace threadsnap::testing

// Start a program or fail the test, with the reason.
#define START(p, opts)                        \
  do {                                        \
    std::string start_err_;                   \
    ASSERT_TRUE((p).Start(opts, &start_err_)) \
        << start_err_;                        \
  } while (0)

// Wait for the program's "ready" line or fail the test, with its last
// output line and its stderr.
#define WAIT_READY(p, timeout)                                                   \
  ASSERT_TRUE((p).WaitForExactLine("ready", timeout))                            \
      << "program never printed 'ready'\nstdout tail: "                          \
      << ((p).Lines().empty() ? std::string("") : (p).Lines().back())            \
      << "\nstderr:\n"                                                            \
      << (p).Stderr()

