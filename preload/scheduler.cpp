// threadsnap: frozen verdicts and the dumper's slice; see scheduler.h.
#include "preload/scheduler.h"

#include <sched.h>
#include <sys/syscall.h>
#include <time.h>

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
constexpr uint64_t kStopSliceNs = 100000;
struct SchedAttr {  // struct sched_attr, SCHED_ATTR_SIZE_VER0
  uint32_t size, policy;
  uint64_t flags;
  int32_t nice;
  uint32_t priority;
  uint64_t runtime, deadline, period;
};
static_assert(sizeof(SchedAttr) == 48);

// From slice `from` (0: any) to `to` (0: the kernel's default).
bool set_slice(uint64_t from, uint64_t to) {
  SchedAttr a = {};
  if (raw_syscall(SYS_sched_getattr, 0, reinterpret_cast<long>(&a), sizeof(a), 0) != 0) return false;
  if (a.policy != SCHED_OTHER && a.policy != SCHED_BATCH) return false;
  if (from && a.runtime != from) return false;  // changed meanwhile: leave it
  a.size = sizeof(a);
  a.flags &= kSchedFlagResetOnFork;
  a.runtime = to;
  return raw_syscall(SYS_sched_setattr, 0, reinterpret_cast<long>(&a), 0) == 0;
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
  bool blocks = true, zombie = false;
  if (!g_config.test_frozen_no_sigblk && !read_task_status(tid, &blocks, &zombie)) return false;
  if (g_config.test_frozen_no_sigblk) blocks = false;
  *blocks_stop = blocks;
  return !blocks && thread_cpu_ns(tid) == clk;
}

bool stop_slice_begin() {
  return g_config.concurrent && !seccomp_seen() && set_slice(0, kStopSliceNs);
}

void stop_slice_end(bool began) {
  if (began) set_slice(kStopSliceNs, 0);
}

}  // namespace threadsnap::detail
