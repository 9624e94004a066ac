// Integration tests of the core: real programs under the preloaded library,
// dumped and checked thread by thread (state, call, object, call chain), in
// both snapshot modes where it matters; ABI, errno and binding fidelity;
// 10,000 threads; bad settings; both unwinders.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <regex>
#include <set>
#include <sstream>

#include "integration/harness.h"

namespace threadsnap::testing {
namespace {

using std::chrono::seconds;


std::vector<std::string> WokeLines(Process& p) {
  std::vector<std::string> out;
  for (const auto& l : p.Lines())
    if (l.rfind("woke ", 0) == 0) out.push_back(l);
  return out;
}


// ---- every family of wrapped calls, both modes -------------------------------------

class BlockedCallsTest : public ::testing::TestWithParam<std::string> {};

// blockers: 28 threads blocked in every C family of wrapped calls, 2
// spinning threads and main in read(0). Every thread appears exactly once
// with the right tid, name, state, call, obj and call chain; no frame of
// libthreadsnap; nothing parked was woken by the dump; the "wrote" line on
// stderr matches; the program then exits 0.
TEST_P(BlockedCallsTest, EveryFamilyOfCallsInC) {
  const std::string mode = GetParam();
  Process p;
  START(p, (RunOptions{"blockers", {}, {{"THREADSNAP_MODE", mode}}}));
  WAIT_READY(p, seconds(10));
  uint64_t before = RealtimeNs();
  Dump d;
  std::string problems = CheckExpectedDump(p, mode, &d);
  EXPECT_EQ(problems, "");
  ASSERT_TRUE(d.has_end);
  EXPECT_EQ(d.threads.size(), 32u);
  EXPECT_GE(d.HeaderU64("time_ns"), before);
  EXPECT_LE(d.HeaderU64("time_ns"), RealtimeNs());
  // Every module line has a bias, the executable a build-id (gcc's default).
  bool exe_has_build_id = false;
  for (const auto& m : d.modules) {
    EXPECT_TRUE(m.bias.has_value()) << "module without bias: " << m.path;
    EXPECT_LT(m.start, m.end) << m.path;
    if (RealPath(m.path) == RealPath(p.program_path()) && m.keys.count("build-id"))
      exe_has_build_id = true;
  }
  EXPECT_TRUE(exe_has_build_id) << "no build-id on the executable's module line";
  // Every blocked thread says what kind of wait it is in (base/calls.def's
  // kind column), so that readers need not guess from the call's name.
  for (const auto& t : d.threads) {
    if (t.state != "blocked") continue;
    auto kind = t.fields.find("kind");
    ASSERT_TRUE(kind != t.fields.end()) << t.line;
    std::string want = t.call.find("rwlock") != std::string::npos  ? "rwlock"
                       : t.call.find("mutex") != std::string::npos ? "mutex"
                       : t.call.find("cond") != std::string::npos  ? "condvar"
                       : t.call == "pthread_join"                  ? "thread"
                       : t.call == "read"                          ? "fd"
                                                                   : "";
    if (!want.empty()) {
      EXPECT_EQ(kind->second, want) << t.line;
    }
    EXPECT_NE(kind->second, "none") << t.line;
  }
  // The stderr line of that dump.
  std::string wrote_for;
  WaitUntil([&] {
    for (const auto& l : WroteLines(p.Stderr()))
      if (l.find(d.path) != std::string::npos) wrote_for = l;
    return !wrote_for.empty();
  }, seconds(5));
  std::regex re("^threadsnap: wrote (\\S+) \\((\\d+) threads, stop1 \\d+ us, sweep \\d+ us, stop2 \\d+ us\\)$");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(wrote_for, m, re)) << "stderr:\n" << p.Stderr();
  EXPECT_EQ(m[2].str(), std::to_string(d.threads.size()));
  EXPECT_EQ(WokeLines(p), std::vector<std::string>{}) << "a parked call returned during a dump";
  ExpectCleanExit(p);
}

// cxx_blockers: std::counting_semaphore (syscall futex), std::mutex,
// std::timed_mutex, std::condition_variable (wait and wait_until),
// std::shared_mutex, sleep_for and std::thread::join, in a C++ program.
TEST_P(BlockedCallsTest, StandardLibraryWaitsInCxx) {
  const std::string mode = GetParam();
  Process p;
  START(p, (RunOptions{"cxx_blockers", {}, {{"THREADSNAP_MODE", mode}}}));
  WAIT_READY(p, seconds(10));
  Dump d;
  EXPECT_EQ(CheckExpectedDump(p, mode, &d), "");
  EXPECT_EQ(WokeLines(p), std::vector<std::string>{});
  ExpectCleanExit(p);
}

// One rule for the first frame, in both modes (issue 14, section 6): a
// thread captured by the stop signal (via=signal; via=stw while running)
// says `first=pc` and its first address, looked up as is, lies in the loop
// it spins in; a thread captured from its wrapper (blocked: via=sweep/self,
// via=stw) starts at a return address and says nothing. In stw mode `via`
// alone cannot tell the two apart.
TEST_P(BlockedCallsTest, FirstFrameIsAPcExactlyForSignalCaptures) {
  const std::string mode = GetParam();
  Process p;
  START(p, (RunOptions{"blockers", {}, {{"THREADSNAP_MODE", mode}}}));
  WAIT_READY(p, seconds(10));
  Dump d;
  ASSERT_EQ(CheckExpectedDump(p, mode, &d), "");
  Symbolizer sym(d);
  int spinners = 0;
  for (const auto& t : d.threads) {
    ASSERT_FALSE(t.frames.empty()) << t.line;
    auto first = t.fields.find("first");
    if (t.state == "running") {
      ASSERT_TRUE(first != t.fields.end() && first->second == "pc") << t.line;
      if (t.name.rfind("spin", 0) == 0) {
        ++spinners;
        EXPECT_EQ(sym.Name(t, 0), "do_spin") << t.line << "\n" << sym.Describe(t);
      }
    } else {
      EXPECT_TRUE(first == t.fields.end()) << "a wrapper's capture starts at a return address: "
                                           << t.line;
    }
  }
  EXPECT_EQ(spinners, 2);
  ExpectCleanExit(p);
}

// select(n, ...) waits on the fds of its sets: the dump's obj must be an fd
// it waits on (here the only one, n-1), not n itself.
TEST(WaitObjectTest, SelectShowsTheFdItWaitsOn) {
  Process p;
  START(p, (RunOptions{"blockers", {}, {}}));
  WAIT_READY(p, seconds(10));
  auto fd_line = p.WaitForPrefix("selectfd ", seconds(1));
  ASSERT_TRUE(fd_line);
  uint64_t fd = strtoull(fd_line->c_str() + 9, nullptr, 10);
  pid_t tid = p.Tids()["select"];
  ASSERT_TRUE(WaitSleeping(p.pid(), {tid}, seconds(10)));
  Dump d;
  std::string err;
  ASSERT_TRUE(DumpUntil(p, [&](const Dump& d) {
    auto* t = d.FindTid(tid);
    return t && t->BlockedIn("select");
  }, &d, &err, seconds(10))) << err;
  const ThreadRecord* t = d.FindTid(tid);
  ASSERT_TRUE(t->obj);
  EXPECT_EQ(*t->obj, fd) << t->line << "\n(obj should be the fd select waits on, " << fd
                         << ", not nfds " << fd + 1 << ")";
}

// The per-PC unwind rules (unwind/unwinder.cpp) give libunwind's frames
// exactly on real stacks: blocked C++ waits, a spinning ring caught by
// signals anywhere in its code (prologues and epilogues included), and
// threads that block and wake all the time. THREADSNAP_TEST_UNWIND_CHECK
// unwinds each thread both ways and logs the counts after each dump.
TEST(UnwindRules, AgreeWithLibunwindOnRealStacks) {
  struct Prog {
    const char* name;
    std::vector<std::string> args;
  };
  for (const Prog& prog : {Prog{"cxx_blockers", {}}, Prog{"spinring", {"4"}}, Prog{"churn", {}},
                           Prog{"blockers", {}}}) {
    SCOPED_TRACE(prog.name);
    Process p;
    START(p, (RunOptions{prog.name, prog.args, {{"THREADSNAP_TEST_UNWIND_CHECK", "1"}}}));
    WAIT_READY(p, seconds(10));
    for (int i = 0; i < 5; i++) {
      Dump d;
      std::string err;
      ASSERT_TRUE(p.TriggerDump(&d, &err, seconds(20))) << err;
    }
    ASSERT_TRUE(WaitUntil([&] {
      std::string e = p.Stderr();
      size_t n = 0, at = 0;
      while ((at = e.find("unwind check: ", at)) != std::string::npos) n++, at++;
      return n >= 5;
    }, seconds(10))) << p.Stderr();
    std::smatch m;
    std::string e = p.Stderr();
    uint64_t compared = 0, differed = 0;
    std::regex re("unwind check: (\\d+) unwinds by rules compared with libunwind, (\\d+) differed");
    for (auto it = std::sregex_iterator(e.begin(), e.end(), re); it != std::sregex_iterator(); ++it) {
      compared += std::stoull((*it)[1]);
      differed += std::stoull((*it)[2]);
    }
    EXPECT_GT(compared, 0u) << "no thread was unwound by rules:\n" << e;
    EXPECT_EQ(differed, 0u) << e;
    p.CloseStdin();
    int st = 0;
    p.WaitExit(seconds(10), &st);
    if (!p.WaitExit(milliseconds(1), &st)) p.Signal(SIGKILL);
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, BlockedCallsTest, ::testing::Values("stw", "concurrent"),
                         [](const auto& info) { return info.param; });

// ---- old condition-variable ABI -----------------------------------------------------------

// old_cond is bound to pthread_cond_*@GLIBC_2.2.5. Under the library its
// 2000 handshakes and a timed wait work, a thread parked in the old
// pthread_cond_wait is dumped as such, and the old signal wakes it (exit 0).
TEST(OldCondAbiTest, BoundToGlibc225RunsAndDumps) {
  std::string syms = RunCommand("nm -D '" + ProgramPath("old_cond") + "'");
  ASSERT_NE(syms.find("pthread_cond_wait@GLIBC_2.2.5"), std::string::npos)
      << "the test program is not bound to the old ABI:\n" << syms;
  ASSERT_EQ(syms.find("pthread_cond_wait@GLIBC_2.3.2"), std::string::npos);
  Process p;
  START(p, (RunOptions{"old_cond", {}, {}}));
  ASSERT_TRUE(p.WaitForExactLine("pingpong ok", seconds(20))) << JoinLines(p.Lines()) << p.Stderr();
  ASSERT_TRUE(p.WaitForExactLine("timedwait 110", seconds(5))) << JoinLines(p.Lines());
  WAIT_READY(p, seconds(10));
  Dump d;
  EXPECT_EQ(CheckExpectedDump(p, "concurrent", &d), "");
  p.CloseStdin();
  EXPECT_TRUE(p.WaitForExactLine("done", seconds(10))) << "old pthread_cond_signal did not wake the waiter";
  ExpectCleanExit(p);
}

// ---- results and errno -------------------------------------------------------------------

struct PlainAndPreloaded {
  std::vector<std::string> plain, preloaded;
  int plain_status = -1, preloaded_status = -1;
  std::string preloaded_stderr;
};

void RunBoth(const std::string& program, PlainAndPreloaded* r, milliseconds timeout) {
  for (bool preload : {false, true}) {
    Process p;
    RunOptions o{program, {}, {}};
    o.preload = preload;
    START(p, o);
    p.CloseStdin();
    int st = -1;
    ASSERT_TRUE(p.WaitExit(timeout, &st)) << program << (preload ? " (preloaded)" : " (plain)")
                                          << " did not finish; last lines:\n"
                                          << JoinLines(p.Lines()) << p.Stderr();
    (preload ? r->preloaded : r->plain) = p.Lines();
    (preload ? r->preloaded_status : r->plain_status) = st;
    if (preload) r->preloaded_stderr = p.Stderr();
  }
}

// errno_parity prints ~130 results (timeouts, EAGAIN/EBUSY/EINVAL/..., a
// real EINTR without SA_RESTART and a transparent restart with it,
// cancellation running cleanup handlers and destructors); the output under
// the library must be identical, line for line.
TEST(ErrnoParityTest, SameResultsAndErrnoWithAndWithoutLibrary) {
  PlainAndPreloaded r;
  ASSERT_NO_FATAL_FAILURE(RunBoth("errno_parity", &r, milliseconds(60000)));
  ASSERT_EQ(r.plain_status, 0);
  ASSERT_FALSE(r.plain.empty());
  ASSERT_EQ(r.plain.back(), "end");
  // Sanity: the plain run shows what glibc does.
  auto has = [&](const std::string& l) {
    return std::find(r.plain.begin(), r.plain.end(), l) != r.plain.end();
  };
  EXPECT_TRUE(has("mutex_timedlock_30ms: ret=110 errno=4242"));
  EXPECT_TRUE(has("eintr_read: ret=-1 errno=4"));
  EXPECT_TRUE(has("restart_read: ret=1 errno=4242"));
  EXPECT_TRUE(has("cancel cond_wait: join=0 canceled=1 cleanup=1 dtor=1"));
  EXPECT_EQ(r.preloaded_status, 0) << r.preloaded_stderr;
  size_t n = std::max(r.plain.size(), r.preloaded.size());
  for (size_t i = 0; i < n; i++) {
    std::string a = i < r.plain.size() ? r.plain[i] : "<missing>";
    std::string b = i < r.preloaded.size() ? r.preloaded[i] : "<missing>";
    EXPECT_EQ(a, b) << "line " << i + 1 << ": plain vs. under threadsnap";
  }
}

// ---- symbol bindings of a dlopened C++ plugin --------------------------------------------

// dlbind (C) dlopens libbindplug.so (C++): malloc, operator new/delete and
// the unwinder resolve to the same objects with and without the library,
// exceptions work and a cancelled thread still runs its destructors.
TEST(BindingsTest, DlopenedCxxPluginBindsAsWithoutLibrary) {
  PlainAndPreloaded r;
  ASSERT_NO_FATAL_FAILURE(RunBoth("dlbind", &r, milliseconds(20000)));
  ASSERT_EQ(r.plain_status, 0) << JoinLines(r.plain);
  EXPECT_EQ(r.preloaded_status, 0) << r.preloaded_stderr;
  ASSERT_FALSE(r.plain.empty());
  EXPECT_EQ(r.plain.back(), "end");
  EXPECT_NE(std::find(r.plain.begin(), r.plain.end(), "plugin_result 111"), r.plain.end());
  // The program's own pthread_cond_wait is interposed (proves the library is
  // loaded); everything else must match.
  auto strip = [](std::vector<std::string> v, std::string* cond) {
    std::vector<std::string> out;
    for (auto& l : v) {
      if (l.rfind("main:pthread_cond_wait ", 0) == 0)
        *cond = l;
      else
        out.push_back(l);
    }
    return out;
  };
  std::string plain_cond, pre_cond;
  auto a = strip(r.plain, &plain_cond), b = strip(r.preloaded, &pre_cond);
  EXPECT_NE(pre_cond.find("libthreadsnap.so"), std::string::npos)
      << "the library is not interposing: " << pre_cond;
  EXPECT_EQ(JoinLines(a), JoinLines(b));
  for (const auto& l : r.preloaded) {
    EXPECT_EQ(l.find("mimalloc"), std::string::npos) << l;
    EXPECT_EQ(l.find("libunwind"), std::string::npos) << l;
  }
}

// ---- 10,000 threads -------------------------------------------------------------------------

class ManyThreadsTest : public ::testing::TestWithParam<std::string> {};

// 10,000 threads with 64 KiB stacks, all blocked in read(): one dump holds
// every one of them exactly once, blocked in read, in a few seconds.
TEST_P(ManyThreadsTest, TenThousandBlockedThreads) {
  const std::string mode = GetParam();
  const int kThreads = 10000;
  Process p;
  START(p, (RunOptions{"many_threads", {std::to_string(kThreads)}, {{"THREADSNAP_MODE", mode}}}));
  WAIT_READY(p, seconds(60));
  auto tids = p.Tids();
  ASSERT_EQ(tids.size(), static_cast<size_t>(kThreads + 1));
  std::vector<pid_t> all;
  for (auto& [name, tid] : tids) all.push_back(tid);
  ASSERT_TRUE(WaitSleeping(p.pid(), all, seconds(30)));
  auto t0 = Clock::now();
  Dump d;
  std::string err;
  ASSERT_TRUE(p.TriggerDump(&d, &err, seconds(30))) << err;
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(d.CheckWellFormed(), "");
  EXPECT_EQ(d.header["mode"], mode);
  EXPECT_EQ(d.threads.size(), static_cast<size_t>(kThreads + 1));
  size_t ok = 0;
  std::string first_bad;
  for (auto& [name, tid] : tids) {
    const ThreadRecord* t = d.FindTid(tid);
    if (!t) {
      if (first_bad.empty()) first_bad = name + " missing";
      continue;
    }
    if (t->name == name && t->BlockedIn("read") && !t->frames.empty())
      ok++;
    else if (first_bad.empty())
      first_bad = t->line;
  }
  EXPECT_EQ(ok, tids.size()) << "first bad: " << first_bad;
  EXPECT_LT(secs, 10.0) << "the dump of 10,000 threads took " << secs << " s";
  RecordProperty("dump_seconds", std::to_string(secs));
  RecordProperty("stop1_ns", std::to_string(d.HeaderU64("stop1_ns")));
  ExpectCleanExit(p, seconds(30));
}

INSTANTIATE_TEST_SUITE_P(Modes, ManyThreadsTest, ::testing::Values("stw", "concurrent"),
                         [](const auto& info) { return info.param; });

// ---- both unwinders ----------------------------------------------------------------------------

class UnwinderTest
    : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

// chains (built with frame pointers): blocked threads, a spinning thread,
// a 300-deep recursion and main show their chains with both unwinders.
TEST_P(UnwinderTest, ExpectedChains) {
  auto [unwind, mode] = GetParam();
  Process p;
  START(p, (RunOptions{"chains", {}, {{"THREADSNAP_UNWIND", unwind}, {"THREADSNAP_MODE", mode}}}));
  WAIT_READY(p, seconds(10));
  Dump d;
  EXPECT_EQ(CheckExpectedDump(p, mode, &d), "");
  const ThreadRecord* deep = d.FindTid(p.Tids()["deep"]);
  ASSERT_NE(deep, nullptr);
  Symbolizer sym(d);
  auto names = sym.Names(*deep);
  size_t recurse = std::count(names.begin(), names.end(), std::string("recurse"));
  EXPECT_EQ(deep->frames.size(), 128u) << "default THREADSNAP_MAX_FRAMES is 128";
  EXPECT_EQ(recurse, deep->frames.size() - 1) << sym.Describe(*deep);
  EXPECT_EQ(LibraryWarnings(p.Stderr()), std::vector<std::string>{});
  ExpectCleanExit(p);
}

INSTANTIATE_TEST_SUITE_P(Unwinders, UnwinderTest,
                         ::testing::Combine(::testing::Values("dwarf", "fp"),
                                            ::testing::Values("stw", "concurrent")),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" + std::get<1>(info.param);
                         });

}  // namespace
}  // namespace threadsnap::testing
