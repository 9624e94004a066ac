// Reliability tests (issue 6): threadsnap runs inside other people's
// production processes, so it must never crash, hang, leak or change the
// behaviour of its host, and every dump it writes must be whole. Each test
// runs a real program of tests/programs/rel_*.c(c) under the preloaded
// library and fails if one of those properties breaks: processes made while
// dumping (fork, vfork, posix_spawn, system, popen, exec), a program that
// owns the trigger signal, threads that never answer the stop signal, a
// storm of triggers, cancellation inside wrapped calls, tiny stacks and
// alternate signal stacks, threads exiting during the sweep, threads leaving
// wrappers just as a stop begins, garbage configuration, and a soak (token ring + creation prefix + churn under
// continuous dumps; THREADSNAP_SOAK_SECONDS sets its length, `make soak`
// runs it for minutes).
//
// The file-system faults (unwritable directory, full file system, planted
// symlink) are shell tests: tests/scripts/test_rel_fault_*.sh.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "integration/harness.h"

namespace threadsnap::testing {
namespace {

using std::chrono::seconds;


// ---- helpers -----------------------------------------------------------------------

// The tids printed under `name` (TidLines, harness.h), in order.
std::vector<pid_t> TidsNamed(Process& p, const std::string& name, size_t from = 0) {
  std::vector<pid_t> out;
  for (auto& [n, t] : TidLines(p, from))
    if (n == name) out.push_back(t);
  return out;
}

// Names of the files of `dir` that start with `prefix`.
std::set<std::string> FilesWithPrefix(const std::string& dir, const std::string& prefix) {
  std::set<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.rfind(prefix, 0) == 0) out.insert(n);
    }
    closedir(d);
  }
  return out;
}

std::set<std::string> DumpFiles(Process& p, const std::string& dir = "") {
  std::set<std::string> out;
  for (auto& n : FilesWithPrefix(dir.empty() ? p.dir() : dir,
                                 "threadsnap." + std::to_string(p.pid()) + "."))
    if (n.size() > 4 && n.compare(n.size() - 4, 4, ".txt") == 0) out.insert(n);
  return out;
}

std::set<std::string> TempFiles(Process& p, const std::string& dir = "") {
  return FilesWithPrefix(dir.empty() ? p.dir() : dir,
                         ".threadsnap." + std::to_string(p.pid()) + ".");
}

// Waits for a dump file of p not in *seen (and adds it). False on timeout.
bool WaitNewDump(Process& p, std::set<std::string>* seen, Dump* out, std::string* error,
                 milliseconds timeout, const std::string& dir = "") {
  std::string found;
  bool ok = WaitUntil(
      [&] {
        for (auto& n : DumpFiles(p, dir))
          if (!seen->count(n)) {
            found = n;
            return true;
          }
        return p.Exited();
      },
      timeout, milliseconds(2));
  if (!ok || found.empty()) {
    *error = std::string(ok ? "program exited" : "timed out") + " waiting for a new dump\nstderr:\n" +
             p.Stderr() + (ok ? "" : "\n" + p.DescribeHang());
    return false;
  }
  seen->insert(found);
  std::string path = (dir.empty() ? p.dir() : dir) + "/" + found;
  if (!ReadDumpFile(path, out, error)) return false;
  if (!out->has_end) {
    *error = path + " has its final name but no 'end' line";
    return false;
  }
  return true;
}

// "" if the dump is whole and well-formed, every tid of `must` appears, no
// thread timed out (unless allowed) and no record is untracked.
std::string CheckDump(const Dump& d, const std::set<pid_t>& must, bool allow_timeout = false) {
  std::string err = d.CheckWellFormed();
  for (pid_t t : must)
    if (!d.FindTid(t)) err += "tid " + std::to_string(t) + " missing; ";
  for (auto& t : d.threads) {
    if (!allow_timeout && t.via == "timeout") err += "timed out: " + t.line + "; ";
    auto tr = t.fields.find("tracked");
    if (tr != t.fields.end() && tr->second == "0") err += "untracked: " + t.line + "; ";
  }
  if (!err.empty()) err = d.path + ": " + err;
  return err;
}

// Sends "cmd" and returns the first later line starting with `prefix`.
std::string Ask(Process& p, const std::string& cmd, const std::string& prefix,
                milliseconds timeout = milliseconds(10000)) {
  size_t from = p.LineCount();
  p.Write(cmd + "\n");
  auto l = p.WaitForPrefix(prefix, timeout, from);
  return l ? *l : "";
}

std::vector<long> Numbers(const std::string& line) {
  std::vector<long> out;
  std::istringstream in(line);
  std::string w;
  while (in >> w) {
    size_t eq = w.find('=');
    std::string v = eq == std::string::npos ? w : w.substr(eq + 1);
    char* end = nullptr;
    long n = strtol(v.c_str(), &end, 10);
    if (end && *end == 0 && !v.empty()) out.push_back(n);
  }
  return out;
}

// Lines of the program's stderr that contain `needle`.
std::vector<std::string> StderrLines(Process& p, const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream in(p.Stderr());
  std::string l;
  while (std::getline(in, l))
    if (l.find(needle) != std::string::npos) out.push_back(l);
  return out;
}

int FdCount(pid_t pid) {
  int n = 0;
  if (DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

// True while `pid` has a file open in directory `dir` (the dumper holds the
// dump it writes open until just after the file gets its name).
bool HasFdInto(pid_t pid, const std::string& dir) {
  bool found = false;
  std::string fds = "/proc/" + std::to_string(pid) + "/fd";
  if (DIR* d = opendir(fds.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      char target[4096];
      ssize_t n = readlink((fds + "/" + e->d_name).c_str(), target, sizeof target - 1);
      if (n > 0 && std::string(target, n).rfind(dir + "/", 0) == 0) found = true;
    }
    closedir(d);
  }
  return found;
}

long RssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string l;
  while (std::getline(in, l))
    if (l.rfind("VmRSS:", 0) == 0) return strtol(l.c_str() + 6, nullptr, 10);
  return -1;
}

// Waits for a final "ok WHAT ..." or "FAIL WHAT ..." line; on timeout the
// program is taken to hang.
std::string WaitVerdict(Process& p, const std::string& what, milliseconds timeout) {
  int i = p.WaitForLine(
      [&](const std::string& l) {
        return l.rfind("ok " + what + " ", 0) == 0 || l.rfind("FAIL " + what + " ", 0) == 0;
      },
      timeout);
  if (i < 0) return "";
  return p.Lines()[i];
}

// ---- fork, vfork, posix_spawn, system, popen, exec ----------------------------------

// Forks from two threads while dumps run back to back (each with a 5 ms
// sweep) and two threads create and exit threads in a loop, so forks land in
// the middle of dumps and while the registry lock is taken. Every child runs,
// its first dump is number 1 and lists only its own thread, a thread it
// creates shows up in its second dump, and it exits 0; the parent's own dumps
// are whole and none has a timed-out thread; nothing hangs. Once as the
// kernel runs it (g_local wiped on fork: 60 forks), once where the kernel
// would not wipe it (preload/process_local.h: the child's fork handler
// writes the resets itself; 30 forks).
struct ForkCase {
  const char* name;
  const char* forks;
  std::map<std::string, std::string> env;  // on top of the common ones
};

class RelForkDuringDumps : public ::testing::TestWithParam<ForkCase> {};

TEST_P(RelForkDuringDumps, GivesACleanDumpableChild) {
#if defined(__SANITIZE_ADDRESS__)
  // make check-asan: GCC 12's libasan has no fork interceptor (no fork in
  // nm -D libasan.so.8), so a child forked while another thread is inside
  // ASan's allocator inherits its lock held and deadlocks on its first
  // malloc or free. A clean-clone CI run caught one: the child's main thread
  // (closedir -> free) and its new threadsnap thread (AsanThread::Init ->
  // pthread_getattr_np -> free) both waiting in SizeClassAllocator64::
  // GetFromAllocator. Not ours to fix; this test runs in make test.
  GTEST_SKIP() << "fork children of a threaded program can deadlock inside GCC 12's libasan";
#endif
  const ForkCase& c = GetParam();
  RunOptions o{"rel_fork", {"fork", c.forks}, {{"THREADSNAP_TEST_SWEEP_DELAY_MS", "5"},
                                               {"THREADSNAP_QUIET", "1"}}};
  o.env.insert(c.env.begin(), c.env.end());
  Process p;
  START(p, o);
  std::string v = WaitVerdict(p, "fork", seconds(150));
  ASSERT_FALSE(v.empty()) << "rel_fork fork did not finish in 150 s (hang?)\nFAIL lines:\n"
                          << JoinLines(FailLines(p)) << p.DescribeHang();
  EXPECT_EQ(v.rfind("ok ", 0), 0u) << JoinLines(FailLines(p)) << "stderr:\n" << p.Stderr();
  ExpectCleanExit(p, "");
}

INSTANTIATE_TEST_SUITE_P(
    RelFork, RelForkDuringDumps,
    ::testing::Values(ForkCase{"WipeOnFork", "60", {}},
                      ForkCase{"WithoutWipeOnFork", "30", {{"THREADSNAP_TEST_NO_WIPEONFORK", "1"}}}),
    [](const auto& info) { return std::string(info.param.name); });

// vfork (the child makes a wrapped write before _exit), vfork+exec,
// posix_spawn, system and popen, 25 rounds while dumps run back to back and
// threads churn: every child's status and output are right, no call waits
// on a dump (each takes under 2.5 s; without the library a few ms), and the
// parent's dumps are whole with no timed-out thread. The stop timeout is
// 5 s here, so that a call held up by a stop stands out from a slow machine.
TEST(RelFork, SpawnedChildrenAreUnaffected) {
  Process p;
  START(p, (RunOptions{"rel_fork", {"spawn", "25"}, {{"THREADSNAP_TEST_SWEEP_DELAY_MS", "5"},
                                                      {"THREADSNAP_STOP_TIMEOUT_MS", "5000"},
                                                      {"THREADSNAP_QUIET", "1"}}}));
  std::string v = WaitVerdict(p, "spawn", seconds(150));
  ASSERT_FALSE(v.empty()) << "rel_fork spawn did not finish in 150 s (hang?)\nFAIL lines:\n"
                          << JoinLines(FailLines(p)) << p.DescribeHang();
  EXPECT_EQ(v.rfind("ok ", 0), 0u) << JoinLines(FailLines(p)) << "stderr:\n" << p.Stderr();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(v, m, std::regex("worst_ms=(\\d+) worst_kind=(\\S+)"))) << v;
  EXPECT_LT(std::stol(m[1]), 2500) << "a " << m[2] << " call took " << m[1]
                                  << " ms while dumps ran: " << v;
  ExpectCleanExit(p, "");
}

// How a process ended, for messages ("" while it runs).
std::string EndOf(Process& p) {
  int st = 0;
  if (!p.WaitExit(milliseconds(200), &st)) return "";
  if (WIFSIGNALED(st)) return "killed by signal " + std::to_string(WTERMSIG(st));
  return "exited with status " + std::to_string(WEXITSTATUS(st));
}

// 30 execs in a row, each by a running thread while dumps run back to back
// (so stop-1 signals are in flight during the exec), LD_PRELOAD kept: every
// image runs (none is killed by a stop signal left pending across the exec),
// the last one has the library loaded, and a dump of it (same pid) is whole
// and lists exactly its three threads.
TEST(RelFork, ExecRunsWithTheLibrary) {
  Process p;
  START(p, (RunOptions{"rel_fork", {"exec", "keep", "30"}, {{"THREADSNAP_QUIET", "1"}}}));
  auto target = p.WaitForPrefix("target ", seconds(60));
  ASSERT_TRUE(target) << "the exec'd program never ran: " << EndOf(p) << "\n"
                      << JoinLines(FailLines(p)) << p.Stderr() << p.DescribeHang();
  EXPECT_EQ(*target, "target pid=" + std::to_string(p.pid()) + " lib=1 api=1");
  size_t from = 0;
  auto lines = p.Lines();
  for (size_t i = 0; i < lines.size(); i++)
    if (lines[i].rfind("target ", 0) == 0) from = i;
  ASSERT_GE(p.WaitForLine([](const std::string& l) { return l == "ready"; }, seconds(10), from), 0);
  std::set<std::string> seen = DumpFiles(p);  // what the earlier images left
  ASSERT_TRUE(p.Signal(SIGUSR2));
  Dump d;
  std::string err;
  ASSERT_TRUE(WaitNewDump(p, &seen, &d, &err, seconds(15))) << err;
  std::set<pid_t> must = AllTids(p, from);
  EXPECT_EQ(must.size(), 3u);
  EXPECT_EQ(CheckDump(d, must), "");
  EXPECT_EQ(d.threads.size(), 3u) << d.text;
  EXPECT_EQ(Ask(p, "ping", "pong"), "pong");
  ExpectCleanExit(p, "quit\n");
}

// The same, with LD_PRELOAD removed before the last exec: that image runs
// without the library (and is not killed by a pending stop signal it has no
// handler for) and serves its stdin.
TEST(RelFork, ExecWithoutPreloadRunsPlain) {
  Process p;
  START(p, (RunOptions{"rel_fork", {"exec", "clear", "30"}, {{"THREADSNAP_QUIET", "1"}}}));
  auto target = p.WaitForPrefix("target ", seconds(60));
  ASSERT_TRUE(target) << "the exec'd program never ran: " << EndOf(p) << "\n" << p.Stderr()
                      << p.DescribeHang();
  EXPECT_EQ(*target, "target pid=" + std::to_string(p.pid()) + " lib=0 api=0");
  EXPECT_EQ(Ask(p, "ping", "pong"), "pong");
  ExpectCleanExit(p, "quit\n");
}

// ---- the program owns the trigger signal ---------------------------------------------

void CheckProgramOwnsTrigger(const std::string& when) {
  Process p;
  START(p, (RunOptions{"rel_handler", {when}, {}}));
  WAIT_READY(p, seconds(10));
  // rel_handler prints "ready" right after pthread_create: on a loaded
  // machine its worker may not have run yet, let alone printed its tid line.
  ASSERT_TRUE(p.WaitForPrefix("tid worker ", seconds(10)))
      << "the worker never printed its tid\nstderr:\n" << p.Stderr();
  const pid_t main_tid = TidsNamed(p, "main").at(0), worker = TidsNamed(p, "worker").at(0);
  EXPECT_TRUE(p.WaitForExactLine("installed ours=1", seconds(1)));
  // Three SIGUSR2, one at a time: the program's handler sees each.
  for (int i = 1; i <= 3; i++) {
    ASSERT_TRUE(p.Signal(SIGUSR2));
    bool seen = WaitUntil([&] { return Ask(p, "count", "count ") == "count " + std::to_string(i); },
                          seconds(10), milliseconds(5));
    EXPECT_TRUE(seen) << "the program's handler did not run for signal " << i << "; last answer: "
                      << Ask(p, "count", "count ") << "\nstderr:\n" << p.Stderr();
  }
  EXPECT_TRUE(DumpFiles(p).empty()) << "a dump was written although the program owns SIGUSR2";
  // The library still works through its API.
  EXPECT_EQ(Ask(p, "self", "triggered"), "triggered 0");
  Dump d;
  std::string err;
  ASSERT_TRUE(p.WaitDump(1, &d, &err, seconds(15))) << err;
  EXPECT_EQ(CheckDump(d, {main_tid, worker}), "");
  // Said once, whatever the number of installs and signals.
  auto said = StderrLines(p, "handler");
  EXPECT_EQ(said.size(), 1u) << "stderr:\n" << p.Stderr();
  for (auto& l : said) EXPECT_EQ(l.rfind("threadsnap: ", 0), 0u) << l;
  ExpectCleanExit(p, "quit\n");
}

// The program installs its own SIGUSR2 handler in main (sigaction, then
// signal() again): threadsnap steps aside, says so on one stderr line, the
// program's handler runs for every signal, no dump is written for them, and
// threadsnap_trigger() still dumps.
TEST(RelHandler, ProgramHandlerInstalledAfterStart) { CheckProgramOwnsTrigger("after"); }

// The same with the handler installed from .preinit_array, before
// threadsnap's constructor runs.
TEST(RelHandler, ProgramHandlerInstalledBeforeStart) { CheckProgramOwnsTrigger("before"); }

// ---- threads that never answer the stop signal ---------------------------------------

// A thread that takes the stop signal itself (rel_sigtake: a raw
// rt_sigprocmask and rt_sigtimedwait, which no wrapper sees) reads in /proc
// as blocked with nothing pending, as a thread that was delivered the signal
// and sits in our handler does, so stop 1 may end without it; but it never
// ran the handler, and the wrapped nanosleep it makes next began after the
// cut. With the sweep held open (a test knob) it leaves that call during
// the dump: it must be listed via=timeout, never as a capture of that call.
TEST(RelBlockSig, AThreadThatTakesTheStopSignalIsATimeoutNotItsLaterCall) {
  Process p;
  START(p, (RunOptions{"rel_sigtake", {},
                       {{"THREADSNAP_STOP_TIMEOUT_MS", "1000"},
                        {"THREADSNAP_TEST_SWEEP_DELAY_MS", "200"}}}));
  WAIT_READY(p, seconds(10));
  pid_t taker = TidsNamed(p, "taker").at(0);
  for (int i = 0; i < 3; i++) {
    Dump d;
    std::string err;
    ASSERT_TRUE(p.TriggerDump(&d, &err, seconds(20))) << err;
    const ThreadRecord* r = d.FindTid(taker);
    ASSERT_TRUE(r) << "taker missing from " << d.path;
    EXPECT_EQ(r->via, "timeout") << "a call entered after the cut: " << r->line;
  }
  auto taken = Numbers(Ask(p, "taken", "taken "));
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_GE(taken[0], 1) << "the taker took no stop signal: the case was not made";
  p.CloseStdin();
  int st = 0;
  EXPECT_TRUE(p.WaitExit(seconds(10), &st)) << p.DescribeHang();
}

// With THREADSNAP_STOP_TIMEOUT_MS=200, a thread that blocks only the stop
// signal and one that spins with every signal blocked: each dump completes
// within the stop timeout (stop 1 under 1.2 s, the file within seconds) and
// reports both as via=timeout without frames while the others are captured
// normally;
// the program runs on (all loop counters advance). Once the threads unblock,
// dumps capture them by signal and stop 1 is short again.
TEST(RelBlockSig, SilentThreadsTimeOutAndTheProgramRunsOn) {
  Process p;
  START(p, (RunOptions{"rel_blocksig", {}, {{"THREADSNAP_STOP_TIMEOUT_MS", "200"}}}));
  WAIT_READY(p, seconds(10));
  auto tid = [&](const char* n) { return TidsNamed(p, n).at(0); };
  pid_t maskstop = tid("maskstop"), spinmask = tid("spinmask"), spinner = tid("spinner"),
        waiter = tid("waiter"), main_tid = tid("main");
  auto stopsig = p.WaitForPrefix("stopsig ", seconds(1));
  ASSERT_TRUE(stopsig && *stopsig != "stopsig 0") << "the program did not find the stop signal";
  for (int round = 0; round < 2; round++) {
    auto before = Numbers(Ask(p, "progress", "progress "));
    ASSERT_EQ(before.size(), 3u);
    auto t0 = Clock::now();
    Dump d;
    std::string err;
    ASSERT_TRUE(p.TriggerDump(&d, &err, seconds(20))) << err;
    auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
    EXPECT_EQ(CheckDump(d, {maskstop, spinmask, spinner, waiter, main_tid}, true), "");
    for (pid_t t : {maskstop, spinmask}) {
      const ThreadRecord* r = d.FindTid(t);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->via, "timeout") << r->line;
      EXPECT_TRUE(r->frames.empty()) << r->line;
    }
    const ThreadRecord* spin = d.FindTid(spinner);
    const ThreadRecord* wait = d.FindTid(waiter);
    ASSERT_TRUE(spin && wait) << "spinner or waiter missing from " << d.path;
    EXPECT_EQ(spin->via, "signal") << spin->line;
    EXPECT_EQ(wait->via, "sweep") << wait->line;
    // Never longer than the stop timeout (plus slack): silent threads are
    // given up on, not waited for (the library may even skip them at once
    // once it saw them block its signal).
    EXPECT_LT(d.HeaderU64("stop1_ns"), 1200ull * 1000000) << "stop 1 outlasted the 200 ms timeout";
    EXPECT_LT(took, 10000) << "the dump took " << took << " ms";
    // Every thread keeps running after the dump.
    bool moved = WaitUntil(
        [&] {
          auto now = Numbers(Ask(p, "progress", "progress "));
          return now.size() == 3 && now[0] > before[0] && now[1] > before[1] && now[2] > before[2];
        },
        seconds(10), milliseconds(20));
    EXPECT_TRUE(moved) << "a thread stopped making progress after dump " << round + 1;
  }
  p.Write("unblock\n");
  ASSERT_TRUE(p.WaitForExactLine("unblocked maskstop", seconds(10)));
  ASSERT_TRUE(p.WaitForExactLine("unblocked spinmask", seconds(10)));
  Dump d;
  std::string err;
  ASSERT_TRUE(p.TriggerDump(&d, &err, seconds(20))) << err;
  // No timeout now (CheckDump); they may still be finishing their
  // "unblocked" write, so via may be self or sweep as well as signal.
  EXPECT_EQ(CheckDump(d, {maskstop, spinmask, spinner, waiter, main_tid}), "");
  EXPECT_LT(d.HeaderU64("stop1_ns"), 200ull * 1000000);
  ExpectCleanExit(p, "quit\n");
}

// ---- a storm of triggers --------------------------------------------------------------

struct StormResult {
  int dumps = 0;
  long storm_ms = 0;
};

// Sends `n` SIGUSR2 as fast as kill() goes, waits until no dump has been
// written for `quiet`, checks every dump and that the program runs on.
void Storm(Process& p, int n, milliseconds quiet, StormResult* out) {
  std::set<pid_t> tids = AllTids(p);
  auto before = Numbers(Ask(p, "ping", "pong "));
  ASSERT_EQ(before.size(), 2u);
  auto t0 = Clock::now();
  for (int i = 0; i < n; i++) ASSERT_EQ(kill(p.pid(), SIGUSR2), 0) << "the program died";
  out->storm_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
  // Settled: no new dump and no temporary file for `quiet`.
  size_t count = 0;
  auto last_change = Clock::now();
  bool settled = WaitUntil(
      [&] {
        size_t c = DumpFiles(p).size();
        if (c != count || !TempFiles(p).empty()) {
          count = c;
          last_change = Clock::now();
        }
        return Clock::now() - last_change >= quiet;
      },
      seconds(120), milliseconds(10));
  ASSERT_TRUE(settled) << "dumps never stopped coming after the storm\n" << p.DescribeHang();
  out->dumps = static_cast<int>(count);
  ASSERT_GE(out->dumps, 1) << "no dump at all after " << n << " triggers\nstderr:\n" << p.Stderr();
  for (auto& f : DumpFiles(p)) {
    Dump d;
    std::string err;
    ASSERT_TRUE(ReadDumpFile(p.dir() + "/" + f, &d, &err)) << err;
    EXPECT_EQ(CheckDump(d, tids), "");
  }
  EXPECT_TRUE(TempFiles(p).empty()) << "temporary dump files left behind";
  auto after = Numbers(Ask(p, "ping", "pong "));
  ASSERT_EQ(after.size(), 2u) << "the program stopped answering after the storm\n"
                              << p.DescribeHang();
  EXPECT_GT(after[0], before[0]);
  EXPECT_GT(after[1], before[1]);
}

// 1,000 SIGUSR2 as fast as kill() can send them: they are coalesced (far
// fewer dumps than signals), every dump written is whole and lists every
// thread, no temporary file is left, and the program runs on and exits 0.
TEST(RelStorm, ThousandTriggersAreCoalesced) {
  Process p;
  START(p, (RunOptions{"rel_workers", {}, {{"THREADSNAP_QUIET", "1"}}}));
  WAIT_READY(p, seconds(10));
  StormResult r;
  Storm(p, 1000, milliseconds(1500), &r);
  EXPECT_LE(r.dumps, 100) << r.dumps << " dumps for 1000 signals sent in " << r.storm_ms << " ms";
  std::cout << "[ info ] 1000 triggers in " << r.storm_ms << " ms gave " << r.dumps << " dumps\n";
  ExpectCleanExit(p, "quit\n");
}

// Triggers that arrive during a dump give at most one more: with a 300 ms
// sweep delay, 1,000 signals sent within a few ms yield one or two dumps
// (at most 2 + storm_ms / 300 if sending was slow).
TEST(RelStorm, TriggersDuringADumpGiveAtMostOneMore) {
  Process p;
  START(p, (RunOptions{"rel_workers", {}, {{"THREADSNAP_QUIET", "1"},
                                            {"THREADSNAP_TEST_SWEEP_DELAY_MS", "300"}}}));
  WAIT_READY(p, seconds(10));
  StormResult r;
  Storm(p, 1000, milliseconds(1500), &r);
  EXPECT_LE(r.dumps, 2 + r.storm_ms / 300)
      << r.dumps << " dumps for 1000 signals sent in " << r.storm_ms << " ms";
  ExpectCleanExit(p, "quit\n");
}

// ---- cancellation, small stacks, alternate signal stacks, exits ---------------------

// 40 rounds (and more until 30 dumps were taken) of pthread_cancel of 13 threads each blocked in a different
// wrapped cancellation point while dumps run back to back (10 ms sweeps):
// every victim ends with PTHREAD_CANCELED, its C++ destructor and cleanup
// handlers run (the condvar victims' handler releases the mutex), dumps are
// whole, and afterwards a dump lists only the three remaining threads (no
// record of a cancelled thread is left behind).
TEST(RelCancel, CancelInsideWrappedCallsDuringDumps) {
  Process p;
  START(p, (RunOptions{"rel_cancel", {"40", "30"}, {{"THREADSNAP_TEST_SWEEP_DELAY_MS", "10"},
                                               {"THREADSNAP_QUIET", "1"}}}));
  std::string v = WaitVerdict(p, "cancel", seconds(150));
  ASSERT_FALSE(v.empty()) << "rel_cancel did not finish in 150 s (hang?)\nFAIL lines:\n"
                          << JoinLines(FailLines(p)) << p.DescribeHang();
  EXPECT_EQ(v.rfind("ok ", 0), 0u) << JoinLines(FailLines(p)) << "stderr:\n" << p.Stderr();
  WAIT_READY(p, seconds(30));
  std::set<std::string> seen = DumpFiles(p);
  ASSERT_TRUE(p.Signal(SIGUSR2));
  Dump d;
  std::string err;
  ASSERT_TRUE(WaitNewDump(p, &seen, &d, &err, seconds(15))) << err;
  std::set<pid_t> remaining = {TidsNamed(p, "main").at(0), TidsNamed(p, "spinner").at(0),
                               TidsNamed(p, "forever").at(0)};
  EXPECT_EQ(CheckDump(d, remaining), "");
  EXPECT_EQ(d.threads.size(), 3u) << d.text;
  ExpectCleanExit(p, "quit\n");
}

// Threads with 16 KiB stacks (blocked, spinning with 4 KiB in use, and one
// creating 16 KiB-stack threads in a loop): pthread_create succeeds for all,
// 20 dumps are whole and list every long-lived thread, spinners answer by
// signal with frames, and the program runs on and exits 0.
TEST(RelStacks, SixteenKiBThreadStacks) {
  Process p;
  START(p, (RunOptions{"rel_smallstack", {}, {{"THREADSNAP_QUIET", "1"}}}));
  WAIT_READY(p, seconds(10));
  EXPECT_TRUE(FailLines(p).empty()) << JoinLines(FailLines(p));
  std::set<pid_t> tids = AllTids(p);
  ASSERT_EQ(tids.size(), 7u);
  auto before = Numbers(Ask(p, "ping", "pong "));
  ASSERT_EQ(before.size(), 3u) << "no answer to ping\n" << p.DescribeHang();
  for (int i = 0; i < 20; i++) {
    Dump d;
    std::string err;
    ASSERT_TRUE(p.TriggerDump(&d, &err)) << err;
    ASSERT_EQ(CheckDump(d, tids), "");
    for (pid_t t : TidsNamed(p, "small-spin")) {
      const ThreadRecord* r = d.FindTid(t);
      ASSERT_TRUE(r) << "small-spin " << t << " missing from " << d.path;
      EXPECT_EQ(r->via, "signal") << r->line;
      EXPECT_FALSE(r->frames.empty()) << r->line;
    }
  }
  auto after = Numbers(Ask(p, "ping", "pong "));
  ASSERT_EQ(after.size(), 3u) << "no answer after the dumps\n" << p.DescribeHang();
  EXPECT_GT(after[0], before[0]);
  EXPECT_GT(after[1], before[1]);
  EXPECT_EQ(after[2], 0) << "pthread_create of a 16 KiB-stack thread failed under the library";
  ExpectCleanExit(p, "quit\n");
}

// Threads on an 8 KiB alternate signal stack (guard page below it): three
// spin inside the program's own SA_ONSTACK handler, two spin in ordinary
// code (threadsnap's handler then runs on their 8 KiB stack), one waits. 20
// dumps are whole; the handler threads answer by signal and their frames
// show alt_spin_handler; the program does not crash, its handlers return
// when released, and it exits 0.
TEST(RelStacks, EightKiBAlternateSignalStacks) {
#if defined(__SANITIZE_ADDRESS__)
  // With AVX-512 a kernel signal frame takes AT_MINSIGSTKSZ (3,632 bytes
  // here): our stop handler nested above the program's own handler on an
  // 8 KiB alternate stack has under 1 KiB. Our handler's deepest path needs
  // about 400 bytes, but about 850 under ASan's stack redzones: too close
  // to test there (it failed once in CI). make test runs it.
  GTEST_SKIP() << "ASan's stack redzones leave no margin on an 8 KiB alternate stack";
#endif
  Process p;
  START(p, (RunOptions{"rel_altstack", {}, {{"THREADSNAP_QUIET", "1"}}}));
  WAIT_READY(p, seconds(10));
  std::set<pid_t> tids = AllTids(p);
  auto handlers = TidsNamed(p, "alt-handler");
  ASSERT_EQ(handlers.size(), 3u);
  auto before = Numbers(Ask(p, "ping", "pong "));
  ASSERT_EQ(before.size(), 2u) << "no answer to ping\n" << p.DescribeHang();
  for (int i = 0; i < 20; i++) {
    Dump d;
    std::string err;
    ASSERT_TRUE(p.TriggerDump(&d, &err)) << err;
    ASSERT_EQ(CheckDump(d, tids), "");
    Symbolizer sym(d);
    for (pid_t t : handlers) {
      const ThreadRecord* r = d.FindTid(t);
      ASSERT_TRUE(r) << "alt-handler " << t << " missing from " << d.path;
      EXPECT_EQ(r->via, "signal") << r->line;
      auto names = sym.Names(*r);
      EXPECT_NE(std::find(names.begin(), names.end(), "alt_spin_handler"), names.end())
          << sym.Describe(*r);
    }
  }
  auto after = Numbers(Ask(p, "ping", "pong "));
  ASSERT_EQ(after.size(), 2u) << "no answer after the dumps\n" << p.DescribeHang();
  EXPECT_GT(after[0], before[0]);
  p.Write("release\n");
  ASSERT_TRUE(WaitUntil([&] {
    int n = 0;
    for (auto& l : p.Lines()) n += l.rfind("returned ", 0) == 0;
    return n == 3;
  }, seconds(10))) << "the program's handlers did not return\n" << p.DescribeHang();
  Dump d;
  std::string err;
  ASSERT_TRUE(p.TriggerDump(&d, &err)) << err;
  EXPECT_EQ(CheckDump(d, tids), "");
  ExpectCleanExit(p, "quit\n");
}

// Threads exit with pthread_exit during the sweep: a 300 ms stop timeout
// (one thread blocks all signals) makes stop 1 last long enough to see it in
// /proc, a 600 ms sweep delay leaves time to release them after it. Blocked
// threads woken then must be reported as they were at stop 1 (blocked in
// pthread_cond_wait, via=self), running ones by their stop-1 capture
// (via=signal), each exactly once; the next dump no longer lists any of them.
TEST(RelExit, ThreadsExitingDuringTheSweepAreReportedAsTheyWere) {
  Process p;
  START(p, (RunOptions{"rel_exit_sweep", {}, {{"THREADSNAP_QUIET", "1"},
                                               {"THREADSNAP_STOP_TIMEOUT_MS", "300"},
                                               {"THREADSNAP_TEST_SWEEP_DELAY_MS", "600"}}}));
  WAIT_READY(p, seconds(10));
  pid_t stayer = TidsNamed(p, "stayer").at(0);
  bool exercised = false;
  std::set<std::string> seen;
  size_t batch_from = 0;  // the current batch printed its tids after this line
  for (int attempt = 0; attempt < 5 && !exercised; attempt++) {
    auto exiters = TidsNamed(p, "exiter", batch_from);
    auto runners = TidsNamed(p, "runner", batch_from);
    ASSERT_EQ(exiters.size(), 4u);
    ASSERT_EQ(runners.size(), 2u);
    ASSERT_TRUE(WaitSleeping(p.pid(), exiters, seconds(10)));
    ASSERT_TRUE(p.Signal(SIGUSR2));
    // Stop 1: the stayer waits in threadsnap's handler (S) until it ends.
    bool in_stop = WaitUntil([&] { return TaskState(p.pid(), stayer) == 'S'; }, seconds(5),
                             milliseconds(1));
    bool after_stop = in_stop && WaitUntil([&] { return TaskState(p.pid(), stayer) == 'R'; },
                                           seconds(5), milliseconds(1));
    size_t mark = p.LineCount();
    p.Write("go\n");
    ASSERT_GE(p.WaitForLine([](const std::string& l) { return l == "joined"; }, seconds(20), mark),
              0)
        << "exiting threads were not joined\n" << p.DescribeHang();
    Dump d;
    std::string err;
    ASSERT_TRUE(WaitNewDump(p, &seen, &d, &err, seconds(20))) << err;
    std::set<pid_t> must(exiters.begin(), exiters.end());
    must.insert(runners.begin(), runners.end());
    must.insert(stayer);
    EXPECT_EQ(CheckDump(d, must, true), "");
    bool all_self = true;
    for (pid_t t : exiters) {
      const ThreadRecord* r = d.FindTid(t);
      if (!r) continue;
      EXPECT_TRUE(r->BlockedIn("pthread_cond_wait")) << r->line;
      EXPECT_FALSE(r->frames.empty()) << r->line;
      all_self = all_self && r->via == "self";
    }
    for (pid_t t : runners) {
      const ThreadRecord* r = d.FindTid(t);
      if (!r) continue;
      EXPECT_EQ(r->state, "running") << r->line;
      EXPECT_EQ(r->via, "signal") << r->line;
    }
    exercised = in_stop && after_stop && all_self;
    // The next dump lists none of the exited threads.
    ASSERT_TRUE(p.Signal(SIGUSR2));
    Dump next;
    ASSERT_TRUE(WaitNewDump(p, &seen, &next, &err, seconds(20))) << err;
    for (pid_t t : must) {
      if (t == stayer) continue;
      EXPECT_FALSE(next.FindTid(t)) << "exited thread " << t << " still listed";
    }
    if (!exercised) {
      batch_from = p.LineCount();
      p.Write("respawn\n");
      ASSERT_GE(p.WaitForLine([](const std::string& l) { return l == "ready"; }, seconds(10),
                              batch_from),
                0);
    }
  }
  EXPECT_TRUE(exercised) << "in 5 attempts the threads never woke and exited during the sweep";
  ExpectCleanExit(p, "quit\n");
}

// ---- threads leaving wrappers as the stop begins -------------------------------------

// Six threads leave wrapped calls (read of /dev/zero, poll with a zero
// timeout, pthread_join) millions of times a second while dumps run back to
// back for 15 s, so stop 1 keeps catching threads in the barrier, claiming or
// capturing themselves, just as its signal lands. No dump may hang (each
// within 15 s), every dump is whole and lists every hammer thread once, and
// the threads keep making progress.
TEST(RelRace, ThreadsLeavingWrappersAsTheStopBegins) {
  Process p;
  START(p, (RunOptions{"rel_hammer", {"6"}, {{"THREADSNAP_QUIET", "1"}}}));
  WAIT_READY(p, seconds(10));
  std::set<pid_t> tids = AllTids(p);
  ASSERT_EQ(tids.size(), 7u);
  auto before = Numbers(Ask(p, "ping", "pong "));
  auto deadline = Clock::now() + seconds(15);
  int dumps = 0;
  while (Clock::now() < deadline) {
    Dump d;
    std::string err;
    ASSERT_TRUE(p.TriggerDump(&d, &err, seconds(15))) << "dump " << dumps + 1 << ": " << err;
    dumps++;
    ASSERT_EQ(CheckDump(d, tids), "") << "dump " << dumps;
    unlink(d.path.c_str());
  }
  auto after = Numbers(Ask(p, "ping", "pong "));
  ASSERT_EQ(after.size(), 1u) << p.DescribeHang();
  EXPECT_GT(after[0], before.at(0));
  std::cout << "[ info ] " << dumps << " dumps, " << after[0] - before[0] << " wrapper rounds\n";
  ExpectCleanExit(p, "quit\n");
}

// ---- garbage configuration -----------------------------------------------------------

struct EnvCase {
  std::string var, value;
};

std::string Shown(const std::string& s) {
  return s.size() > 300 ? s.substr(0, 200) + "...(" + std::to_string(s.size()) + " bytes)" : s;
}

// The name a warning gives for a variable (names may be cut at 64 bytes).
std::string WarnedName(const std::string& var) { return var.substr(0, 64); }

// "threadsnap: warning:" lines of stderr by the THREADSNAP_* name each
// names first (a line that names several counts for its first only).
std::multimap<std::string, std::string> Warnings(Process& p) {
  std::multimap<std::string, std::string> out;
  static const std::regex name("THREADSNAP_[A-Za-z0-9_]*");
  for (auto& l : StderrLines(p, "threadsnap: warning:")) {
    std::smatch m;
    std::string key = std::regex_search(l, m, name) ? m.str().substr(0, 64) : "?";
    out.emplace(key, l);
  }
  return out;
}

// Each THREADSNAP_* variable with an empty, negative, huge, non-numeric or
// otherwise invalid value, and unknown THREADSNAP_* names: exactly one
// "threadsnap: warning:" line naming it (bounded in length), the program
// runs, and a dump shows the default in effect (directory $TMPDIR, trigger
// SIGUSR2, mode concurrent, unwind dwarf, 128 frames, a 64 KiB stack copy,
// no sweep delay, a 1 s stop timeout, not torn, not quiet).
TEST(RelEnv, GarbageGivesOneWarningEachAndTheDefault) {
  const std::string huge(100000, '7');
  const std::string long_name = "THREADSNAP_" + std::string(3000, 'A');
  std::vector<EnvCase> cases;
  for (std::string v : std::vector<std::string>{"", "relative/dir", "-1", "/" + std::string(5000, 'x')})
    cases.push_back({"THREADSNAP_DIR", v});
  for (std::string v :
       std::vector<std::string>{"", "SIGNOPE", "-1", "0", "99999999999999999999", "SIGKILL", huge})
    cases.push_back({"THREADSNAP_SIGNAL", v});
  cases.push_back({"THREADSNAP_SIGNAL", "SIGBOGUS"});
  for (std::string v : std::vector<std::string>{"", "fast", "sideways", "-1", huge})
    cases.push_back({"THREADSNAP_MODE", v});
  for (std::string v : {"", "lbr", "magic", "-1"}) cases.push_back({"THREADSNAP_UNWIND", v});
  for (std::string v : {"", "0", "-5", "99999999999999999999", "12abc", "banana", "1025"})
    cases.push_back({"THREADSNAP_MAX_FRAMES", v});
  for (std::string v : {"", "-1", "-5", "abc", "99999999999999999999"})
    cases.push_back({"THREADSNAP_STOP_TIMEOUT_MS", v});
  for (std::string v : {"", "-1", "3", "abc", "99999999999999999999"})
    cases.push_back({"THREADSNAP_STACK_KB", v});
  for (std::string v : {"", "-1", "abc", "99999999999999999999"})
    cases.push_back({"THREADSNAP_TEST_SWEEP_DELAY_MS", v});
  for (std::string v : {"abc", "-1", "2"}) cases.push_back({"THREADSNAP_TEST_TORN", v});
  for (std::string v : {"abc", "-1", "2"}) cases.push_back({"THREADSNAP_TEST_NAMED_TEMP", v});
  for (std::string v : {"", "-1", "abc", "99999999999999999999"})
    cases.push_back({"THREADSNAP_TEST_WRITE_DELAY_MS", v});
  for (std::string n :
       std::vector<std::string>{"THREADSNAP_BOGUS", "THREADSNAP_DIRR", "THREADSNAP_", long_name})
    cases.push_back({n, "1"});

  for (const EnvCase& c : cases) {
    SCOPED_TRACE(c.var.substr(0, 40) + "='" + Shown(c.value) + "'");
    bool timeout_case = c.var == "THREADSNAP_STOP_TIMEOUT_MS";
    RunOptions o{timeout_case ? "rel_blocksig" : "rel_workers", {}, {{c.var, c.value}}};
    o.env["TMPDIR"] = "@DIR@";  // where the default directory then is
    Process p;
    START(p, o);
    WAIT_READY(p, seconds(10));
    // One warning, naming the variable, saying what happens, bounded in length.
    auto warnings = Warnings(p);
    EXPECT_EQ(warnings.size(), 1u) << "stderr:\n" << Shown(p.Stderr());
    EXPECT_EQ(warnings.count(WarnedName(c.var)), 1u) << "stderr:\n" << Shown(p.Stderr());
    for (auto& [name, line] : warnings) {
      EXPECT_LE(line.size(), 1100u) << "a warning line of " << line.size() << " bytes";
      EXPECT_TRUE(line.find("not valid") != std::string::npos ||
                  line.find("unknown") != std::string::npos)
          << "the warning does not say what was wrong: " << Shown(line);
    }
    // The defaults are in effect.
    std::string dir = p.dir();
    std::set<std::string> seen = DumpFiles(p, dir);
    ASSERT_TRUE(p.Signal(SIGUSR2));
    Dump d;
    std::string err;
    ASSERT_TRUE(WaitNewDump(p, &seen, &d, &err, seconds(20), dir))
        << "no dump in " << dir << ": " << err;
    EXPECT_EQ(d.CheckWellFormed(), "");
    EXPECT_EQ(d.header["mode"], "concurrent");
    EXPECT_EQ(d.header["unwind"], "dwarf");
    EXPECT_TRUE(WaitUntil([&] { return !StderrLines(p, "threadsnap: wrote").empty(); }, seconds(5)))
        << "quiet although not asked";
    EXPECT_LT(d.HeaderU64("sweep_ns"), 500u * 1000000) << "a sweep delay is in effect";
    if (timeout_case) {
      EXPECT_GE(d.HeaderU64("stop1_ns"), 950ull * 1000000) << "stop timeout is not 1000 ms";
      EXPECT_LT(d.HeaderU64("stop1_ns"), 5000ull * 1000000) << "stop timeout is not 1000 ms";
    } else {
      Symbolizer sym(d);
      auto deep = d.FindName("deep");
      ASSERT_EQ(deep.size(), 1u);
      EXPECT_EQ(deep[0]->frames.size(), 128u) << "THREADSNAP_MAX_FRAMES default is 128";
      auto big = d.FindName("bigframes");
      ASSERT_EQ(big.size(), 1u);
      int bigs = 0;
      for (auto& n : sym.Names(*big[0])) bigs += n == "bigframe";
      auto fb = p.WaitForPrefix("bigframe_bytes ", seconds(5));
      ASSERT_TRUE(fb);
      long frame = std::stol(fb->substr(15));
      ASSERT_GT(frame, 0);
      long want = 64 * 1024 / frame;  // frames that fit in a 64 KiB copy
      EXPECT_GE(bigs, want - 6) << "stack copy smaller than the 64 KiB default (frames of "
                                << frame << " bytes)";
      EXPECT_LE(bigs, want + 3) << "stack copy larger than the 64 KiB default (frames of "
                                << frame << " bytes)";
      // Not torn: the waiters, blocked for good, are swept, not signalled.
      for (auto* t : d.FindName("waiter")) EXPECT_EQ(t->via, "sweep") << t->line;
    }
    ExpectCleanExit(p, "quit\n");
  }
  // All of them at once: one warning each, nothing else.
  RunOptions all{"rel_workers", {}, {}};
  std::set<std::string> vars;
  for (const EnvCase& c : cases)
    if (c.value != "" || c.var == "THREADSNAP_DIR") {
      all.env[c.var] = c.value;
      vars.insert(c.var);
    }
  all.env["TMPDIR"] = "@DIR@";
  Process p;
  START(p, all);
  WAIT_READY(p, seconds(10));
  auto warnings = Warnings(p);
  EXPECT_EQ(warnings.size(), vars.size()) << Shown(p.Stderr());
  for (auto& v : vars)
    EXPECT_EQ(warnings.count(WarnedName(v)), 1u) << Shown(v) << "\n" << Shown(p.Stderr());
  std::set<std::string> seen;
  ASSERT_TRUE(p.Signal(SIGUSR2));
  Dump d;
  std::string err;
  ASSERT_TRUE(WaitNewDump(p, &seen, &d, &err, seconds(20))) << err;
  EXPECT_EQ(d.CheckWellFormed(), "");
  ExpectCleanExit(p, "quit\n");
}

// ---- soak ------------------------------------------------------------------------------

int SoakSeconds() {
  const char* s = getenv("THREADSNAP_SOAK_SECONDS");
  int n = s ? atoi(s) : 0;
  return n > 0 ? n : 25;
}

// Token ring (8 threads, one mutex), creation prefix (threads created one
// after the other, exiting in order) and churn (two threads creating
// thousands of threads per second, some detached) under continuous dumps
// (the next SIGUSR2 as soon as a dump is written) for THREADSNAP_SOAK_SECONDS
// (25 s in `make test`, minutes in `make soak`). Every dump is whole and
// well-formed, lists each thread once, none timed out or untracked; never
// more than one ring thread outside its wait; the prefix threads present
// form one contiguous range of one epoch with at most one not yet named;
// the program keeps making progress, no dump takes over 15 s, and resident
// memory and the number of open file descriptors stay flat after the warm-up
// (the first third of the run, at most the first minute).
TEST(RelSoak, RingPrefixChurnUnderContinuousDumps) {
  const int secs = SoakSeconds();
  Process p;
  START(p, (RunOptions{"rel_soak", {"8", "2"}, {{"THREADSNAP_QUIET", "1"}}}));
  WAIT_READY(p, seconds(10));
  std::vector<pid_t> ring;
  for (int i = 0; i < 8; i++) ring.push_back(TidsNamed(p, "ring" + std::to_string(i)).at(0));
  pid_t main_tid = TidsNamed(p, "main").at(0), prefixer = TidsNamed(p, "prefixer").at(0);
  std::regex pname("p(\\d+)\\.(\\d+)");
  auto first = Numbers(Ask(p, "stat", "stat "));
  ASSERT_EQ(first.size(), 3u);
  auto start = Clock::now(), deadline = start + seconds(secs);
  auto warm = start + std::min(seconds(60), seconds(secs / 3));
  long rss_warm = -1, rss_max_after = 0;
  int fds_warm = -1, fds_max_after = 0;
  int dumps = 0, failures = 0, max_outside = 0, max_prefix = 0;
  std::string first_failure;
  while (Clock::now() < deadline && failures < 5) {
    Dump d;
    std::string err;
    if (!p.TriggerDump(&d, &err, seconds(15))) {
      FAIL() << "dump " << dumps + 1 << " failed: " << err;
    }
    dumps++;
    std::string why = CheckDump(d, {main_tid, prefixer});
    std::set<pid_t> must_ring(ring.begin(), ring.end());
    int outside = 0;
    for (pid_t t : ring) {
      const ThreadRecord* r = d.FindTid(t);
      if (!r) why += "ring thread " + std::to_string(t) + " missing; ";
      else if (!r->BlockedIn("pthread_cond_wait")) outside++;
    }
    max_outside = std::max(max_outside, outside);
    if (outside > 1) why += std::to_string(outside) + " ring threads outside their wait; ";
    // Creation prefix.
    std::set<long> epochs;
    std::vector<long> idx;
    int unnamed = 0;
    for (auto& t : d.threads) {
      std::smatch m;
      if (std::regex_match(t.name, m, pname)) {
        epochs.insert(std::stol(m[1]));
        idx.push_back(std::stol(m[2]));
      } else if (t.name == "prefixer" && t.tid != prefixer) {
        unnamed++;
      }
    }
    std::sort(idx.begin(), idx.end());
    if (epochs.size() > 1) why += "prefix threads of " + std::to_string(epochs.size()) + " epochs; ";
    for (size_t i = 1; i < idx.size(); i++)
      if (idx[i] != idx[i - 1] + 1)
        why += "prefix gap or duplicate between p." + std::to_string(idx[i - 1]) + " and p." +
               std::to_string(idx[i]) + "; ";
    if (unnamed > 1) why += std::to_string(unnamed) + " unnamed prefix threads; ";
    max_prefix = std::max(max_prefix, static_cast<int>(idx.size()));
    if (!why.empty()) {
      failures++;
      if (first_failure.empty()) first_failure = d.path + ": " + why;
      ADD_FAILURE() << "dump " << dumps << ": " << why;
    }
    unlink(d.path.c_str());
    // The file is visible once named, a moment before the dumper closes it:
    // wait for that close (a leaked fd into the directory would never go).
    WaitUntil([&] { return !HasFdInto(p.pid(), p.dir()); }, seconds(2));
    long rss = RssKiB(p.pid());
    int fds = FdCount(p.pid());
    if (Clock::now() >= warm) {
      if (rss_warm < 0) rss_warm = rss, fds_warm = fds;
      rss_max_after = std::max(rss_max_after, rss);
      fds_max_after = std::max(fds_max_after, fds);
    }
  }
  auto last = Numbers(Ask(p, "stat", "stat "));
  ASSERT_EQ(last.size(), 3u) << "the program stopped answering\n" << p.DescribeHang();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  double churn_rate = (last[1] - first[1]) / elapsed;
  std::cout << "[ info ] soak " << elapsed << " s: " << dumps << " dumps, ring passes "
            << last[0] - first[0] << ", churn " << static_cast<long>(churn_rate)
            << " threads/s, prefix epochs " << last[2] - first[2] << ", max prefix in a dump "
            << max_prefix << ", rss after warm-up " << rss_warm << " -> max " << rss_max_after
            << " KiB\n";
  EXPECT_EQ(failures, 0) << first_failure;
  EXPECT_GE(dumps, secs) << "fewer than one dump per second";
  EXPECT_GT(last[0], first[0]) << "the ring stopped";
  EXPECT_GT(last[2], first[2]) << "the prefixer stopped";
  EXPECT_GE(churn_rate, 1000) << "thread churn below 1000 creations per second";
  EXPECT_LE(max_outside, 1);
  ASSERT_GT(rss_warm, 0);
  // The program opens no file after start-up; between dumps threadsnap holds
  // none of its own open beyond its eventfd.
  EXPECT_EQ(fds_max_after, fds_warm) << "file descriptors leak: " << fds_warm << " -> "
                                     << fds_max_after;
  if (p.WaitForExactLine("sanitized 0", seconds(1))) {
    EXPECT_LE(rss_max_after, rss_warm + rss_warm / 20 + 2048)
        << "resident memory grew from " << rss_warm << " KiB to " << rss_max_after
        << " KiB after the warm-up";
  } else {
    std::cout << "[ info ] built with ASan (its quarantine grows the heap): RSS not checked\n";
  }
  ExpectCleanExit(p, "quit\n");
}

}  // namespace
}  // namespace threadsnap::testing
