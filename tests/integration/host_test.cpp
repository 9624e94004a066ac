// "Never harm the host" (issue 11): each test runs a small program of
// tests/programs that behaves plainly and broke under the library, and
// checks that it now behaves the same with the library loaded.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <regex>
#include <sstream>

#include "integration/harness.h"

namespace threadsnap::testing {
namespace {

using std::chrono::seconds;

struct Ran {
  std::vector<std::string> lines;
  int status = -1;
  std::string err;
};

// Runs a program to its end (stdin closed), with or without the library.
void RunToEnd(const RunOptions& opts, Ran* out, milliseconds timeout = milliseconds(30000)) {
  Process p;
  START(p, opts);
  p.CloseStdin();
  int st = -1;
  ASSERT_TRUE(p.WaitExit(timeout, &st))
      << opts.program << (opts.preload ? " (preloaded)" : " (plain)") << " did not finish\n"
      << JoinLines(p.Lines()) << p.Stderr() << p.DescribeHang();
  out->lines = p.Lines();
  out->status = st;
  out->err = p.Stderr();
}

bool HasLine(const Ran& r, const std::string& l) {
  return std::find(r.lines.begin(), r.lines.end(), l) != r.lines.end();
}

std::string LineWithPrefix(const Ran& r, const std::string& prefix) {
  for (auto& l : r.lines)
    if (l.rfind(prefix, 0) == 0) return l;
  return "";
}

// ---- items 9 and 19: pause() and sleep() are not restarted --------------------------

// A program waits in pause() for its own SIGALRM while a trigger (SIGUSR2,
// process-directed, so it lands on main) arrives in the same wake-up: pause
// must return for the alarm, every round (a wrapper that restarted pause
// when the trigger handler had run swallowed the alarm).
TEST(HostSignals, PauseReturnsForTheProgramsOwnSignal) {
  for (bool preload : {false, true}) {
    RunOptions o{"rel_interrupt", {"pause", "20"}, {{"THREADSNAP_QUIET", "1"}}};
    o.preload = preload;
    Ran r;
    ASSERT_NO_FATAL_FAILURE(RunToEnd(o, &r));
    EXPECT_TRUE(HasLine(r, "ok pause 20"))
        << (preload ? "preloaded" : "plain") << ":\n" << JoinLines(r.lines) << r.err;
    EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.err;
  }
}

// sleep(2) ended by a handled signal after about 300 ms returns the seconds
// it had left, with the library (the signal is threadsnap's trigger) as
// without it (the program's own do-nothing handler), and returns early.
TEST(HostSignals, SleepReturnsWhatAHandledSignalGives) {
  Ran plain, pre;
  RunOptions o{"rel_interrupt", {"sleep"}, {{"THREADSNAP_QUIET", "1"}}};
  o.preload = false;
  ASSERT_NO_FATAL_FAILURE(RunToEnd(o, &plain));
  o.preload = true;
  ASSERT_NO_FATAL_FAILURE(RunToEnd(o, &pre));
  std::string want = LineWithPrefix(plain, "sleep returned ");
  ASSERT_FALSE(want.empty()) << JoinLines(plain.lines);
  EXPECT_EQ(LineWithPrefix(pre, "sleep returned "), want) << JoinLines(pre.lines) << pre.err;
  EXPECT_TRUE(HasLine(plain, "sleep short 1")) << JoinLines(plain.lines);
  EXPECT_TRUE(HasLine(pre, "sleep short 1")) << JoinLines(pre.lines) << pre.err;
}


// ---- item 10: the main thread ends with pthread_exit -----------------------------------

// Its record is released: later dumps do not list it (its zombie task still
// answers tgkill(..., 0), so a kept record cost every stop the whole stop
// timeout) and stop 1 stays far below that timeout. And the dumps stay
// whole: the ended leader has no memory map any more, so whatever reads the
// process's memory or /proc/self through its pid fails (process_vm_readv
// gave empty stack copies, frameless threads, and poll's fd could not be
// read; /proc/self/exe and cmdline are empty): exe, title, the poller's fd.
TEST(HostExit, MainThreadEndingWithPthreadExitIsForgotten) {
  Process p;
  START(p, (RunOptions{"rel_mainexit", {}, {{"THREADSNAP_STOP_TIMEOUT_MS", "3000"}}}));
  WAIT_READY(p, seconds(10));
  ASSERT_TRUE(p.WaitForExactLine("main exited", seconds(10))) << JoinLines(p.Lines());
  auto tids = p.Tids();
  std::string poll_fd;
  for (const auto& l : p.Lines())
    if (l.rfind("poll fd ", 0) == 0) poll_fd = l.substr(8);
  ASSERT_FALSE(poll_fd.empty());
  for (int i = 0; i < 2; i++) {
    Dump d;
    std::string err;
    ASSERT_TRUE(p.TriggerDump(&d, &err, milliseconds(20000))) << err;
    EXPECT_EQ(d.CheckWellFormed(), "");
    EXPECT_EQ(d.FindTid(tids["main"]), nullptr) << "the ended main thread is listed:\n" << d.text;
    EXPECT_NE(d.FindTid(tids["spinner"]), nullptr) << d.text;
    EXPECT_NE(d.FindTid(tids["reader"]), nullptr) << d.text;
    EXPECT_LT(d.HeaderU64("stop1_ns"), 1000000000ull)
        << "stop 1 waited for the ended main thread (timeout 3000 ms)";
    EXPECT_NE(d.header["exe"].find("rel_mainexit"), std::string::npos) << "exe: " << d.header["exe"];
    EXPECT_NE(d.header["title"].find("rel_mainexit"), std::string::npos) << "title: " << d.header["title"];
    const ThreadRecord* poller = d.FindTid(tids["poller"]);
    ASSERT_NE(poller, nullptr) << d.text;
    EXPECT_TRUE(poller->BlockedIn("poll")) << poller->line;
    EXPECT_EQ(poller->obj, std::stoull(poll_fd)) << poller->line;
  }
  // The program goes on. (That the process then ends when its last thread
  // ends depends on the dumper thread, which glibc counts as a thread too.)
  p.Write("quit\n");
  EXPECT_TRUE(p.WaitForExactLine("bye", seconds(10))) << JoinLines(p.Lines()) << p.Stderr();
}

// The process ends with status 0 when its last thread ends, as glibc has it.
// DISABLED until threadsnap's dumper thread no longer keeps the process
// alive (glibc counts it as a thread: exit(0) comes only when the count
// reaches 0); the lead's dumper rework is to make this pass: enable it then.
TEST(HostExit, ProcessEndsWhenTheLastThreadEndsAfterMainPthreadExit) {
  Process p;
  START(p, (RunOptions{"rel_mainexit", {}, {}}));
  WAIT_READY(p, seconds(10));
  ASSERT_TRUE(p.WaitForExactLine("main exited", seconds(10))) << JoinLines(p.Lines());
  p.Write("quit\n");
  p.CloseStdin();
  int st = -1;
  ASSERT_TRUE(p.WaitExit(seconds(10), &st)) << p.DescribeHang();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "status 0x" << std::hex << st << p.Stderr();
  EXPECT_TRUE(p.WaitForExactLine("bye", seconds(1)));
}

// ---- item 11: a foreign thread that blocks every signal --------------------------------

// glibc's timer_create(SIGEV_THREAD) helper blocks every signal and was not
// started through our pthread_create: it is adopted as a foreign thread
// with its SigBlk read at once, so even the first dump does not wait the
// stop timeout for it. It is listed via=timeout, tracked=0.
TEST(HostForeign, SignalBlockingHelperCostsNoStopTimeout) {
  Process p;
  START(p, (RunOptions{"rel_timerhelper", {}, {{"THREADSNAP_STOP_TIMEOUT_MS", "3000"}}}));
  WAIT_READY(p, seconds(10));
  Dump d;
  std::string err;
  ASSERT_TRUE(p.TriggerDump(&d, &err, milliseconds(20000))) << err;
  EXPECT_EQ(d.CheckWellFormed(), "");
  EXPECT_LT(d.HeaderU64("stop1_ns"), 1000000000ull)
      << "the first dump waited for the signal-blocking helper (timeout 3000 ms)";
  int helpers = 0;
  for (auto& t : d.threads) {
    auto tr = t.fields.find("tracked");
    if (tr != t.fields.end() && tr->second == "0" && t.via == "timeout") helpers++;
  }
  EXPECT_GE(helpers, 1) << "no untracked via=timeout thread (the timer helper):\n" << d.text;
  EXPECT_NE(d.FindTid(p.Tids()["main"]), nullptr) << d.text;
  p.Write("quit\n");
  p.CloseStdin();
  int st = -1;
  ASSERT_TRUE(p.WaitExit(seconds(10), &st)) << p.DescribeHang();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << p.Stderr();
}


// ---- item 6: pthread_create never reads *thread after the thread may run -------------

// Detached job threads unmap the page holding their own pthread_t at once
// (SCHED_FIFO on the creator's CPU: they run before pthread_create returns).
// glibc never touches *thread after the thread may run; neither may the
// wrapper.
TEST(HostCreate, JobThreadFreeingItsOwnPthreadT) {
  for (bool preload : {false, true}) {
    RunOptions o{"rel_jobfree", {"300"}, {}};
    o.preload = preload;
    Ran r;
    ASSERT_NO_FATAL_FAILURE(RunToEnd(o, &r, milliseconds(60000)));
    EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0)
        << (preload ? "preloaded" : "plain") << ": status 0x" << std::hex << r.status << std::dec
        << (WIFSIGNALED(r.status) ? " (signal " + std::to_string(WTERMSIG(r.status)) + ")" : "")
        << "\n" << JoinLines(r.lines) << r.err;
    EXPECT_TRUE(HasLine(r, "ok jobs 300")) << JoinLines(r.lines);
    if (!HasLine(r, "fifo 1")) std::cout << "[ info ] SCHED_FIFO not permitted: a weaker test\n";
  }
}


// ---- item 14: lock owners are read with the call seen at the cut ----------------------

// A rwlock writer hands the lock to a waiting writer during stop 1 (the
// holder blocks every signal, so the stop waits its timeout and does not
// hold it). The waiter's dump line must not show an owner parsed from the
// rwlock as if it were a mutex (its state word says "running" by then):
// the owner is absent, or one of the two writers.
TEST(HostOwners, RwlockHandedOverDuringStop1) {
  Process p;
  START(p, (RunOptions{"rel_rwowner", {}, {{"THREADSNAP_STOP_TIMEOUT_MS", "1000"}}}));
  WAIT_READY(p, seconds(10));
  auto tids = p.Tids();
  pid_t holder = tids["holder"], waiter = tids["waiter"];
  ASSERT_TRUE(WaitSleeping(p.pid(), {waiter}, seconds(10)));
  p.Write("go\n");
  Dump d;
  std::string err;
  ASSERT_TRUE(p.TriggerDump(&d, &err, milliseconds(20000))) << err;
  ASSERT_TRUE(p.WaitForExactLine("handed", seconds(10))) << JoinLines(p.Lines());
  ASSERT_TRUE(p.WaitForExactLine("got", seconds(10))) << JoinLines(p.Lines());
  const ThreadRecord* t = d.FindTid(waiter);
  ASSERT_NE(t, nullptr) << d.text;
  EXPECT_TRUE(t->BlockedIn("pthread_rwlock_wrlock")) << t->line;
  auto o = t->fields.find("owner");
  if (o != t->fields.end()) {
    pid_t owner = static_cast<pid_t>(std::stol(o->second));
    EXPECT_TRUE(owner == holder || owner == waiter)
        << "bogus owner " << o->second << " (holder " << holder << ", waiter " << waiter
        << "): " << t->line;
  }
  p.Write("quit\n");
  p.CloseStdin();
  int st = -1;
  ASSERT_TRUE(p.WaitExit(seconds(10), &st)) << p.DescribeHang();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << p.Stderr();
}


// ---- item 12: a signal handler jumps out of a blocked wrapped call ---------------------

// The thread blocked in read(); its SIGUSR1 handler jumps out (siglongjmp,
// or __builtin_longjmp which no wrapper sees); it then blocks in
// pthread_mutex_lock. A dump must show it blocked there, not still in read
// and not running untracked.
void CheckJumpOutOfRead(const std::string& mode) {
  Process p;
  START(p, (RunOptions{"rel_jump", {mode}, {}}));
  WAIT_READY(p, seconds(10));
  pid_t jumper = p.Tids()["jumper"];
  ASSERT_TRUE(WaitSleeping(p.pid(), {jumper}, seconds(10)));
  p.Write("jump\n");
  ASSERT_TRUE(p.WaitForExactLine("jumped", seconds(10))) << JoinLines(p.Lines()) << p.Stderr();
  Dump d;
  std::string err;
  bool ok = DumpUntil(
      p,
      [&](const Dump& dd) {
        const ThreadRecord* t = dd.FindTid(jumper);
        return t && t->BlockedIn("pthread_mutex_lock");
      },
      &d, &err, milliseconds(5000));
  const ThreadRecord* t = d.FindTid(jumper);
  ASSERT_NE(t, nullptr) << err << d.text;
  EXPECT_TRUE(ok) << mode << ": after jumping out of read the thread shows: " << t->line;
  p.Write("quit\n");
  p.CloseStdin();
  int st = -1;
  ASSERT_TRUE(p.WaitExit(seconds(10), &st)) << p.DescribeHang();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << p.Stderr();
}

TEST(HostJump, SiglongjmpOutOfReadThenMutexLock) { CheckJumpOutOfRead("longjmp"); }
TEST(HostJump, UnseenJumpOutOfReadThenMutexLock) { CheckJumpOutOfRead("builtin"); }

// ---- item 13: fork in a handler that interrupted a wrapped call ------------------------

// Main blocks in read(); its SIGUSR1 handler forks and the child stays in
// the handler, blocking in nanosleep. A dump of the child shows it blocked
// there (a child that inherited the interrupted call's depth was never
// tracked: running, and each dump interrupted its waits).
TEST(HostJump, ChildForkedInAHandlerIsTracked) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "fork children under GCC 12's libasan: see RelFork";
#endif
  Process p;
  START(p, (RunOptions{"rel_jump", {"fork"}, {}}));
  WAIT_READY(p, seconds(10));
  ASSERT_TRUE(WaitSleeping(p.pid(), {p.pid()}, seconds(10)));
  p.Signal(SIGUSR1);
  auto l = p.WaitForPrefix("child ", seconds(10));
  ASSERT_TRUE(l.has_value()) << JoinLines(p.Lines()) << p.Stderr();
  pid_t child = static_cast<pid_t>(std::stol(l->substr(6)));
  ASSERT_TRUE(WaitSleeping(child, {child}, seconds(10)));
  std::string path = p.dir() + "/threadsnap." + std::to_string(child) + ".1.txt";
  ASSERT_EQ(kill(child, SIGUSR2), 0);
  Dump d;
  std::string err;
  ASSERT_TRUE(WaitUntil([&] { return access(path.c_str(), F_OK) == 0; }, seconds(10)))
      << "no dump of the child\n" << p.Stderr();
  ASSERT_TRUE(ReadDumpFile(path, &d, &err)) << err;
  const ThreadRecord* t = d.FindTid(child);
  ASSERT_NE(t, nullptr) << d.text;
  EXPECT_TRUE(t->BlockedIn("nanosleep")) << t->line;
  p.Write("quit\n");
  p.CloseStdin();
  int st = -1;
  ASSERT_TRUE(p.WaitExit(seconds(10), &st)) << p.DescribeHang();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << p.Stderr();
}

}  // namespace
}  // namespace threadsnap::testing
