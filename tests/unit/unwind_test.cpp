// Unit tests of capture and unwinding: a stack captured the way a wrapper
// captures it (registers of a live frame + a copy) unwinds, from the copy
// alone, through a known chain of noinline functions, with both unwinders
// and at several depths.
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <signal.h>
#include <sys/mman.h>

#include <thread>

#include "base/alloc.h"
#include "unwind/stack_copy.h"
#include "unwind/modules.h"
#include "unwind/unwinder.h"

using namespace threadsnap::detail;

namespace {

// The unwind layer alone, on plain types: a stack copy taken the way a
// wrapper takes one (registers saved in its live frame, then the stack).
constexpr size_t kCopyBytes = 64 * 1024;
uint64_t g_saved[kNumRegs];
StackBounds g_bounds;
StackCopy g_copy;
std::vector<unsigned char> g_bytes(kCopyBytes);

}  // namespace

// Exported (the binary links with -rdynamic) so that dladdr names them.
// Captures the calling frame the way a wrapper does. The chain is unwound
// after outer() has returned, when the live stack has been reused by other
// calls: only the copy can give the right answer.
extern "C" __attribute__((noinline)) void capture_here() {
  TS_SAVE_REGS(g_saved);
  regs_from_saved(g_copy.regs, g_saved);
  copy_stack(g_bounds, g_copy.regs[kRSP], g_bytes.data(), g_bytes.size(), &g_copy.base,
             &g_copy.len);
  g_copy.bytes = g_bytes.data();
}

extern "C" __attribute__((noinline)) void level(int depth) {
  if (depth == 0) capture_here();
  else level(depth - 1);
  __asm__ volatile("" ::: "memory");  // no tail call
}
extern "C" __attribute__((noinline)) void outer(int depth) {
  level(depth);
  __asm__ volatile("" ::: "memory");
}

namespace {

class Unwind : public ::testing::TestWithParam<std::tuple<bool, int>> {
 protected:
  // Once per process: the parameterized suite (Depths/Unwind) and the
  // plain one (Unwind) each call this, and unwinder_init() is start-up only.
  static void SetUpTestSuite() {
    static bool inited = false;
    if (inited) return;
    inited = true;
    alloc_init();
    ASSERT_TRUE(unwinder_init());
    modules_refresh();
    unwinder_begin(true);
  }
  void SetUp() override {
    g_copy = StackCopy{};
    pthread_attr_t attr;
    pthread_getattr_np(pthread_self(), &attr);
    void* addr;
    size_t size;
    pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
    g_bounds.lo = 0;  // main thread: the copy goes through safe_read
    g_bounds.hi = reinterpret_cast<uintptr_t>(addr) + size;
  }
};

const char* symbol_of(uintptr_t pc) {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(pc - 1), &info) && info.dli_sname) return info.dli_sname;
  return "?";
}

TEST_P(Unwind, ChainFromCopy) {
  auto [fp, depth] = GetParam();
  outer(depth);
  // Here the library is linked into the test binary, so its own-frame
  // filter would drop everything: check the raw chain.
  uintptr_t frames[256];
  uint32_t n = unwind_raw(g_copy, frames, 256, fp);
  std::vector<std::string> names;
  for (uint32_t i = 0; i < n; ++i) names.push_back(symbol_of(frames[i]));
  // capture_here, then `depth + 1` frames of level, then outer.
  ASSERT_GE(names.size(), static_cast<size_t>(depth + 3)) << testing::PrintToString(names);
  EXPECT_NE(names[0].find("capture_here"), std::string::npos) << names[0];
  for (int i = 1; i <= depth + 1; ++i) EXPECT_NE(names[i].find("level"), std::string::npos) << i;
  EXPECT_NE(names[depth + 2].find("outer"), std::string::npos) << names[depth + 2];
}

// The per-PC rules (unwinder.cpp) give exactly libunwind's frames for the
// same copy, and are used: the second unwind of the chain needs no probe.
TEST_F(Unwind, RulesAgreeWithLibunwind) {
  for (int depth : {0, 10, 50}) {
    SCOPED_TRACE(depth);
    outer(depth);
    uintptr_t by_libunwind[256], by_rules[256];
    unwinder_use_rules(false);
    uint32_t n1 = unwind_raw(g_copy, by_libunwind, 256, false);
    unwinder_use_rules(true);
    UnwindRuleStats s0 = unwinder_rule_stats();
    uint32_t n2 = unwind_raw(g_copy, by_rules, 256, false);
    UnwindRuleStats s1 = unwinder_rule_stats();
    uint32_t n3 = unwind_raw(g_copy, by_rules, 256, false);
    UnwindRuleStats s2 = unwinder_rule_stats();
    ASSERT_GE(n1, static_cast<uint32_t>(depth + 3));
    ASSERT_EQ(n1, n2);
    ASSERT_EQ(n1, n3);
    for (uint32_t i = 0; i < n1; ++i)
      EXPECT_EQ(by_libunwind[i], by_rules[i]) << i << " " << symbol_of(by_rules[i]);
    EXPECT_EQ(s1.by_rules - s0.by_rules, 1u) << "probes " << s1.probes - s0.probes;
    EXPECT_EQ(s2.by_rules - s1.by_rules, 1u);
    EXPECT_EQ(s2.probes, s1.probes) << "a second unwind of the same chain probed again";
  }
}

INSTANTIATE_TEST_SUITE_P(Depths, Unwind,
                         ::testing::Combine(::testing::Bool(), ::testing::Values(0, 10, 50)));

// libunwind's block-all-and-restore around its cache lock is skipped on a
// thread that keeps every signal blocked (the dumper), and only there.
template <typename F>
void on_new_thread(F f) {
  std::thread t(f);
  t.join();
}

bool blocked_now(int sig) {
  sigset_t cur;
  pthread_sigmask(SIG_BLOCK, nullptr, &cur);
  return sigismember(&cur, sig);
}

TEST_F(Unwind, LibunwindSigprocmaskIsRedirected) {
  LibunwindSigprocmask fn = unwinder_libunwind_sigprocmask();
  ASSERT_NE(fn, nullptr) << "libunwind-x86_64's sigprocmask slot was not found";
  EXPECT_NE(reinterpret_cast<void*>(fn), dlsym(RTLD_DEFAULT, "sigprocmask"));
  sigset_t full;
  sigfillset(&full);
  // An ordinary thread: the call still does what sigprocmask does.
  on_new_thread([&] {
    sigset_t none, old;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    EXPECT_FALSE(unwinder_thread_keeps_signals_blocked()) << "this thread blocks nothing";
    ASSERT_EQ(fn(SIG_SETMASK, &full, &old), 0);
    EXPECT_TRUE(blocked_now(SIGUSR1)) << "blocking all was skipped on an ordinary thread";
    EXPECT_FALSE(sigismember(&old, SIGUSR1));
    ASSERT_EQ(fn(SIG_SETMASK, &old, nullptr), 0);
    EXPECT_FALSE(blocked_now(SIGUSR1)) << "the restore was skipped on an ordinary thread";
    // A request other than block-all goes through on any thread.
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, SIGUSR2);
    ASSERT_EQ(fn(SIG_BLOCK, &one, nullptr), 0);
    EXPECT_TRUE(blocked_now(SIGUSR2));
  });
  // A thread that keeps everything blocked: block-all and its restore are
  // answered without a system call, and the mask stays all-blocked.
  on_new_thread([&] {
    pthread_sigmask(SIG_SETMASK, &full, nullptr);
    ASSERT_TRUE(unwinder_thread_keeps_signals_blocked());
    sigset_t old;
    sigemptyset(&old);
    ASSERT_EQ(fn(SIG_SETMASK, &full, &old), 0);
    EXPECT_TRUE(sigismember(&old, SIGUSR1)) << "the reported old mask must be all-blocked";
    ASSERT_EQ(fn(SIG_SETMASK, &old, nullptr), 0);
    EXPECT_TRUE(blocked_now(SIGUSR1));
    EXPECT_TRUE(blocked_now(SIGTERM));
  });
}

// The same chain unwinds the same way on a dumper-like thread.
TEST_F(Unwind, ChainOnAThreadWithEverySignalBlocked) {
  outer(10);
  uintptr_t frames[256];
  uint32_t n_main = unwind_raw(g_copy, frames, 256, false);
  std::vector<uintptr_t> main_frames(frames, frames + n_main);
  std::vector<uintptr_t> blocked_frames;
  on_new_thread([&] {
    sigset_t full;
    sigfillset(&full);
    pthread_sigmask(SIG_SETMASK, &full, nullptr);
    ASSERT_TRUE(unwinder_thread_keeps_signals_blocked());
    uintptr_t frames[256];
    uint32_t n = unwind_raw(g_copy, frames, 256, false);
    blocked_frames.assign(frames, frames + n);
  });
  ASSERT_GE(main_frames.size(), 13u);
  EXPECT_EQ(blocked_frames, main_frames);
}

TEST(Capture, SafeReadStopsAtUnmappedMemory) {
  void* p = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  munmap(static_cast<char*>(p) + 4096, 4096);
  memset(p, 7, 4096);
  unsigned char buf[8192];
  long got = safe_read(reinterpret_cast<uintptr_t>(p) + 4000, buf, 1000);
  EXPECT_EQ(got, 96);
  EXPECT_EQ(buf[0], 7);
  EXPECT_EQ(safe_read(reinterpret_cast<uintptr_t>(p) + 4096, buf, 100), 0);
  munmap(p, 4096);
}

TEST(Modules, FindsOwnCodeAndBuildId) {
  modules_refresh();
  const Module* m = module_for_pc(reinterpret_cast<uintptr_t>(&outer));
  ASSERT_NE(m, nullptr);
  EXPECT_GT(m->build_id_len, 0u);
  EXPECT_NE(m->eh_frame_hdr, 0u);
  EXPECT_EQ(module_for_pc(8), nullptr);
}

}  // namespace
