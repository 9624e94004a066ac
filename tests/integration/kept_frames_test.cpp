// Kept frames: a thread still blocked in the very call it was in at the
// previous dump keeps the frames unwound then, instead of having its stack
// copied and unwound again (coordinator.cpp, same_call_as_slot). A thread
// that left the call and blocked again, in the same call, at another depth
// or at the same depth under other functions (equal registers), must show
// its new stack. THREADSNAP_TEST_REUSE=blind (frames kept whenever tid and
// call match) is the negative control: the same check must catch it.
#include <gtest/gtest.h>
#include <sys/syscall.h>

#include <algorithm>

#include "integration/harness.h"

namespace threadsnap::testing {
namespace {

using std::chrono::seconds;

struct Step {
  char kind;  // 'a' or 'b': under descend_a or descend_b; 0: no move
  int depth;
};

struct MovesRun {
  int dumps = 0;
  int wrong = 0;         // dumps where the mover's stack was not where it blocked
  uint64_t kept = 0;     // sum of kept_frames
  int idle_changed = 0;  // dumps where an idle thread's frames differ from the first dump
  std::string first_wrong;
};

// How many frames of the mover are descend_a and descend_b.
std::pair<int, int> Depths(const Dump& d, const ThreadRecord& t) {
  Symbolizer sym(d);
  auto names = sym.Names(t);
  return {static_cast<int>(std::count(names.begin(), names.end(), "descend_a")),
          static_cast<int>(std::count(names.begin(), names.end(), "descend_b"))};
}

void RunMoves(const std::string& mode, const std::string& reuse, MovesRun* out) {
  Process p;
  START(p, (RunOptions{"reblock", {},
                       {{"THREADSNAP_MODE", mode}, {"THREADSNAP_QUIET", "1"},
                        {"THREADSNAP_TEST_REUSE", reuse}}}));
  WAIT_READY(p, seconds(10));
  ASSERT_TRUE(p.WaitForPrefix("tid mover ", seconds(10)));
  pid_t mover = p.Tids()["mover"];
  ASSERT_GT(mover, 0);
  int blocks = 0;
  // Until the mover printed its n-th "blocking" line and sits in read().
  auto wait_blocked = [&](int n) {
    ASSERT_TRUE(WaitUntil([&] {
      int c = 0;
      for (const auto& l : p.Lines())
        if (l.rfind("blocking ", 0) == 0) ++c;
      return c >= n && TaskSyscall(p.pid(), mover) == SYS_read;
    }, seconds(10))) << "the mover did not block again";
  };
  wait_blocked(++blocks);
  std::map<pid_t, std::vector<uint64_t>> idle_first;
  const Step steps[] = {{'a', 3}, {0, 0}, {'a', 7}, {0, 0}, {'a', 3}, {'b', 3}, {0, 0},
                        {'a', 3}, {'a', 3}, {'b', 5}, {0, 0}, {'b', 5}, {'a', 5}};
  Step at = {'a', 3};
  for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); ++s) {
    if (s > 0 && steps[s].kind) {
      ASSERT_TRUE(p.Write(std::string{steps[s].kind, static_cast<char>('0' + steps[s].depth)}));
      wait_blocked(++blocks);
      at = steps[s];
    }
    Dump d;
    std::string err;
    ASSERT_TRUE(p.TriggerDump(&d, &err, seconds(10))) << err;
    ++out->dumps;
    out->kept += d.HeaderU64("kept_frames");
    const ThreadRecord* t = d.FindTid(mover);
    ASSERT_NE(t, nullptr) << d.path;
    ASSERT_TRUE(t->BlockedIn("read")) << t->line;
    auto [a, b] = Depths(d, *t);
    // descend_X(K) recurses down to descend_X(0): K + 1 frames.
    int want_a = at.kind == 'a' ? at.depth + 1 : 0, want_b = at.kind == 'b' ? at.depth + 1 : 0;
    if (a != want_a || b != want_b) {
      if (!out->wrong++) {
        Symbolizer sym(d);
        out->first_wrong = "step " + std::to_string(s) + ": blocked under " + at.kind + " " +
                           std::to_string(at.depth) + ", dump shows descend_a x" +
                           std::to_string(a) + " descend_b x" + std::to_string(b) + ": " +
                           sym.Describe(*t);
      }
    }
    for (const auto& th : d.threads) {
      if (th.tid == mover || !th.BlockedIn("read") || th.frames.empty()) continue;
      auto it = idle_first.find(th.tid);
      if (it == idle_first.end()) idle_first[th.tid] = th.frames;
      else if (it->second != th.frames) ++out->idle_changed;
    }
  }
  ExpectCleanExit(p);
}

TEST(KeptFrames, AThreadThatBlockedAgainShowsItsNewStack) {
  MovesRun run;
  ASSERT_NO_FATAL_FAILURE(RunMoves("concurrent", "normal", &run));
  EXPECT_EQ(run.wrong, 0) << run.first_wrong;
  EXPECT_EQ(run.idle_changed, 0) << "threads blocked in the same read all along changed frames";
  // Kept at least: the 8 idle threads in each dump after the first, and the
  // mover and the main thread (which passes the commands on) in the 4 dumps
  // taken without a move: 12 * 8 + 4 * 2.
  EXPECT_GE(run.kept, 104u) << "frames were not kept where they could be";
  RecordProperty("kept_frames", static_cast<int>(run.kept));
}

TEST(KeptFrames, NoneInStwOrWhenOff) {
  for (auto [mode, reuse] : {std::pair{"stw", "normal"}, std::pair{"concurrent", "off"}}) {
    SCOPED_TRACE(std::string(mode) + " reuse=" + reuse);
    MovesRun run;
    ASSERT_NO_FATAL_FAILURE(RunMoves(mode, reuse, &run));
    EXPECT_EQ(run.wrong, 0) << run.first_wrong;
    EXPECT_EQ(run.kept, 0u);
  }
}

// The negative control: keeping frames on tid and call alone is caught.
TEST(KeptFrames, BlindKeepingIsCaught) {
  MovesRun run;
  ASSERT_NO_FATAL_FAILURE(RunMoves("concurrent", "blind", &run));
  EXPECT_GT(run.wrong, 0) << "frames kept across a new call went unnoticed: the check is blind";
}

}  // namespace
}  // namespace threadsnap::testing
