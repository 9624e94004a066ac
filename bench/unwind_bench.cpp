// Unwind cost per thread at stack depths 10 to 100, with libunwind (DWARF,
// remote interface, from the copy) and with the frame-pointer walker: what
// the dumper spends per blocked thread after the stops, and what the `stw`
// baseline spends inside its stop. Also the capture itself (copy_stack).
//
// Links the library's objects directly (like tests/unit/unwind_test.cpp) and
// captures a chain of noinline frames the way a wrapper does; the benchmark
// then unwinds that one capture over and over, so libunwind's caches are
// warm, as they are for the many threads of a server that share call sites.
#include <benchmark/benchmark.h>

#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/alloc.h"
#include "unwind/stack_copy.h"
#include "unwind/modules.h"
#include "unwind/unwinder.h"

using namespace threadsnap::detail;

namespace {

constexpr size_t kCopyBytes = 64 * 1024;  // THREADSNAP_STACK_KB's default
uint64_t g_saved[kNumRegs];
StackBounds g_bounds;
StackCopy g_copy;
std::vector<unsigned char> g_bytes(kCopyBytes);
benchmark::State* g_copy_state = nullptr;  // set: loop copy_stack at the leaf

void setup_once() {
  static bool done = false;
  if (done) return;
  done = true;
  alloc_init();
  if (!unwinder_init()) std::abort();
  modules_refresh();
  unwinder_begin(true);
  g_copy.bytes = g_bytes.data();
}

}  // namespace

// Exported names (the binary links with -rdynamic), as in the unit test.
extern "C" __attribute__((noinline)) void bench_capture_here() {
  TS_SAVE_REGS(g_saved);
  regs_from_saved(g_copy.regs, g_saved);
  copy_stack(g_bounds, g_copy.regs[kRSP], g_bytes.data(), g_bytes.size(), &g_copy.base,
             &g_copy.len);
  if (g_copy_state) {
    for (auto _ : *g_copy_state) {
      copy_stack(g_bounds, g_copy.regs[kRSP], g_bytes.data(), g_bytes.size(), &g_copy.base,
                 &g_copy.len);
      benchmark::ClobberMemory();
    }
  }
}

extern "C" __attribute__((noinline)) void bench_level(int depth) {
  if (depth <= 0) bench_capture_here();
  else bench_level(depth - 1);
  __asm__ volatile("" ::: "memory");  // no tail call
}

namespace {

void* capture_thread(void* arg) {
  pthread_attr_t attr;
  pthread_getattr_np(pthread_self(), &attr);
  void* addr;
  size_t size;
  pthread_attr_getstack(&attr, &addr, &size);
  pthread_attr_destroy(&attr);
  g_bounds.lo = reinterpret_cast<uintptr_t>(addr);
  g_bounds.hi = g_bounds.lo + size;
  bench_level(static_cast<int>(reinterpret_cast<intptr_t>(arg)) - 1);
  return nullptr;
}

// Captures, in a new thread with a 256 KiB stack, a chain `depth` frames
// deep: bench_level x (depth - 1), bench_capture_here, then the thread's
// start frames. The copy outlives the thread; only the copy is unwound.
void capture_at(int depth, benchmark::State* copy_state = nullptr) {
  setup_once();
  g_copy_state = copy_state;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t t;
  if (pthread_create(&t, &attr, capture_thread, reinterpret_cast<void*>(static_cast<intptr_t>(depth))))
    std::abort();
  pthread_join(t, nullptr);
  pthread_attr_destroy(&attr);
  g_copy_state = nullptr;
}

void unwind_bench(benchmark::State& state, bool fp) {
  int depth = static_cast<int>(state.range(0));
  capture_at(depth);
  uintptr_t frames[512];
  uint32_t n = 0;
  for (auto _ : state) {
    n = unwind_raw(g_copy, frames, 512, fp);
    benchmark::DoNotOptimize(n);
  }
  state.counters["frames"] = n;
  state.counters["ns_per_frame"] = benchmark::Counter(
      static_cast<double>(n) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  if (n < static_cast<uint32_t>(depth)) state.SkipWithError("unwind stopped short of the chain");
}

void BM_UnwindDwarf(benchmark::State& state) { unwind_bench(state, false); }
// As the dumper runs it: every signal blocked, so libunwind's block-all-and-
// restore around its cache lock is skipped (unwinder.cpp). Registered after
// BM_UnwindDwarf: from here on this thread keeps every signal blocked.
void BM_UnwindDwarfDumper(benchmark::State& state) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, nullptr);
  if (!unwinder_thread_keeps_signals_blocked()) state.SkipWithError("mask not all-blocked");
  unwind_bench(state, false);
}
// The same with libunwind alone (no per-PC rules): what every frame cost
// before the rules (unwinder.cpp), side by side in one run.
void BM_UnwindDwarfDumperLibunwind(benchmark::State& state) {
  unwinder_use_rules(false);
  unwind_bench(state, false);
  unwinder_use_rules(true);
}
void BM_UnwindFp(benchmark::State& state) { unwind_bench(state, true); }

// The capture: copying the live stack of a blocked thread (what the sweep
// does per blocked thread, and a woken thread in its wrapper). Timed at the
// leaf of the chain, inside the capture thread.
void BM_CaptureCopy(benchmark::State& state) {
  capture_at(static_cast<int>(state.range(0)), &state);
  state.counters["bytes"] = g_copy.len;
}

}  // namespace

BENCHMARK(BM_UnwindDwarf)->Arg(10)->Arg(20)->Arg(50)->Arg(100);
BENCHMARK(BM_UnwindDwarfDumper)->Arg(10)->Arg(20)->Arg(50)->Arg(100);
BENCHMARK(BM_UnwindDwarfDumperLibunwind)->Arg(10)->Arg(20)->Arg(50)->Arg(100);
BENCHMARK(BM_UnwindFp)->Arg(10)->Arg(20)->Arg(50)->Arg(100);
BENCHMARK(BM_CaptureCopy)->Arg(10)->Arg(100);

BENCHMARK_MAIN();
