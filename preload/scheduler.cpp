// threadsnap: frozen verdicts and the dumper's slice; see scheduler.h.
#include "preload/scheduler.h"

#include <sched.h>
#include <sys/syscall.h>
#include <time.h>

#include <atomic>

#include "base/raw.h"
#include "preload/adopt.h"
#include "preload/config.h"
#include "preload/process_local.h"
#include "unwind/stack_copy.h"

namespace threadsnap::detail {

namespace {

constexpr auto& g_sig_clock = g_local.sig_clock;  // per signalled member: last CPU clock read
constexpr auto& g_sig_since = g_local.sig_since;  // when it last moved (CLOCK_MONOTONIC)

// The CPU time of a thread of this process, or ~0 if it is gone.
uint64_t thread_cpu_ns(pid_t tid) {
  clockid_t clk = static_cast<clockid_t>((~static_cast<unsigned>(tid)) << 3) | 6;
  timespec ts;
  if (raw_syscall(SYS_clock_gettime, clk, reinterpret_cast<long>(&ts)) != 0) return ~0ull;
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

constexpr uint64_t kSchedFlagResetOnFork = 0x01;  // <linux/sched.h>
constexpr uint64_t kStopSliceMaxNs = 1000000;
constexpr uint64_t kMinSliceNs = 100000;  // the kernel's lower bound
struct SchedAttr {  // struct sched_attr, SCHED_ATTR_SIZE_VER0
  uint32_t size, policy;
  uint64_t flags;
  int32_t nice;
  uint32_t priority;
  uint64_t runtime, deadline, period;
};
static_assert(sizeof(SchedAttr) == 48);

bool fair(const SchedAttr& a) { return a.policy == SCHED_OTHER || a.policy == SCHED_BATCH; }

// The slice for stop 1: 1 ms, or less where the dumper's slice (the
// kernel's default, or what its creator had) is shorter. 0: none (a
// policy other than a fair one, or a kernel that reports no slice).
uint64_t stop_slice(const SchedAttr& a) {
  if (!fair(a) || a.runtime < kMinSliceNs) return 0;
  return a.runtime < kStopSliceMaxNs ? a.runtime : kStopSliceMaxNs;
}

bool get_attr(SchedAttr* a) {
  *a = {};
  return raw_syscall(SYS_sched_getattr, 0, reinterpret_cast<long>(a), sizeof(*a), 0) == 0;
}

// The slice `to` (0: the kernel's default), all else as `a` has it.
bool set_slice(SchedAttr a, uint64_t to) {
  a.size = sizeof(a);
  a.flags &= kSchedFlagResetOnFork;
  a.runtime = to;
  return raw_syscall(SYS_sched_setattr, 0, reinterpret_cast<long>(&a), 0) == 0;
}

// A real sleep, long enough that the timer has not fired before the thread
// is off its CPU (1 us did not sleep at all here).
void sleep_briefly() {
  static std::atomic<uint32_t> never{0};
  timespec ts = {0, 50000};
  futex_wait(&never, 0, &ts);
}

}  // namespace

void frozen_verdicts_begin(uint32_t count) {
  for (uint32_t i = 0; i < count; ++i) g_sig_clock[i] = ~1ull;
}

bool judged_frozen(uint32_t i, pid_t tid, uint64_t now, bool* blocks_stop) {
  if (g_config.test_frozen_blind) return true;  // tests only: no check at all
  uint64_t clk = thread_cpu_ns(tid);
  if (clk != g_sig_clock[i]) {
    g_sig_clock[i] = clk;
    g_sig_since[i] = now;
    return false;
  }
  if (now - g_sig_since[i] < kFrozenWindowNs) return false;
  bool blocks = true, zombie = false, pending = true;
  if (!g_config.test_frozen_no_sigblk && !read_task_status(tid, &blocks, &zombie, &pending))
    return false;
  if (g_config.test_frozen_no_sigblk) blocks = false;
  // Blocked but no longer pending: delivered since we sent it, so it is in
  // our handler, which blocks every signal until it has claimed the thread
  // (from the registers of the cut) and runs only our code: stopped,
  // though not there yet (preempted before its claim, a busy machine's
  // case). A program that blocks the signal keeps it pending.
  if (blocks && !pending) return true;
  *blocks_stop = blocks;
  return !blocks && thread_cpu_ns(tid) == clk;
}

uint64_t stop_slice_begin() {
  if (!g_config.concurrent) return 0;
  uint64_t slice = 0;
  SchedAttr a;
  if (!seccomp_seen() && get_attr(&a)) {
    uint64_t want = stop_slice(a);
    if (want && want != a.runtime && set_slice(a, want)) slice = want;
  }
  sleep_briefly();
  return slice;
}

void stop_slice_end(uint64_t slice) {
  SchedAttr a;
  // Not where the slice changed meanwhile (someone else set it): left.
  if (slice && get_attr(&a) && fair(a) && a.runtime == slice) set_slice(a, 0);
}

}  // namespace threadsnap::detail
