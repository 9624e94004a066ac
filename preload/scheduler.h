// threadsnap: what stop 1 needs from the scheduler (issue 13): frozen
// verdicts, which let stop 1 end without waiting for a signalled thread to
// get a CPU, and the dumper's slice and turn, which keep the scheduler from
// cutting stop 1 into pieces. Used by the coordinator only.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace threadsnap::detail {

// A thread whose stop signal is pending runs no user instruction before its
// handler: the kernel delivers pending signals on every return to user mode.
// So a signalled thread that is not on a CPU is already frozen at the cut;
// stop 1 needs to wait only for the ones on a CPU (the IPI puts them in the
// handler within microseconds). Off-CPU is seen on the thread's CPU clock,
// which only advances while it runs (and is brought up to date when read
// while it runs): no advance over kFrozenWindowNs, begun after its signal
// was sent. A thread that blocks the stop signal is not frozen by it, so
// the verdict also needs its SigBlk, read while the clock stays still (a
// thread that did not run cannot have changed its mask). A thread that has
// the signal blocked but no longer pending was delivered it: it is in our
// handler, before its claim, and as good as stopped. A frozen thread
// captures itself in the handler when it next runs; the dump waits for that
// as it waits for the sweep (bounded by the stop timeout).
// The window need not be long: a thread that runs at all after the first
// read has a later clock at the next (the kernel accounts a running
// thread's time up to the read, in ns), so any window shows it; what the
// window adds is margin. ../shared/spikes/frozen.c here (6,000 signals each,
// a counting thread sharing a CPU with a spinner): windows of 0, 1 and 2 us
// gave 755, 718 and 869 frozen verdicts, none followed by user code. It
// was 10 us until the stop-1 breakdown showed the wait for one verdict as
// a quarter of large/idle's stop 1.
inline constexpr uint64_t kFrozenWindowNs = 2000;

// Before the verdicts on `count` signalled members (after their signals were
// sent). Stop path.
void frozen_verdicts_begin(uint32_t count);

// Whether signalled member i (not yet arrived), thread tid, is frozen at the
// cut; `now` is CLOCK_MONOTONIC. *blocks_stop: its SigBlk, read after its
// clock stalled, has the stop signal (it runs a handler with it masked, or
// masked it by a raw system call): it cannot be frozen by the signal and
// must get a CPU to go on. Stop path (a /proc read of our own: no lock of
// the program's).
bool judged_frozen(uint32_t i, pid_t tid, uint64_t now, bool* blocks_stop);

// How the dumper enters stop 1 (issue 13): on a fresh turn on its CPU, with
// a slice that covers the stop. Under EEVDF a running thread is protected
// from preemption only for its slice (RUN_TO_PARITY: the shorter of its own
// and the shortest queued), and once past it, a thread that has used more
// than its share is preempted at the next wake-up and waits until the
// others have caught up: with N runnable threads per CPU, N times what it
// overran. The dumper arrives at stop 1 having just worked (the module list,
// the thread count), so on a saturated machine (bench `busy`: hundreds of
// runnable threads per CPU) that wait fell inside the stop, 10-250 ms of it,
// while every thread that woke or was signalled waited for the release.
// So, outside stw (the unchanged baseline):
// - the dumper takes a custom slice (sched_attr.sched_runtime of a fair
//   policy, Linux 6.12 and later, open to any user) of 1 ms, or its own
//   slice if that is shorter: long enough for stop 1 (0.1-0.7 ms of CPU in
//   `busy`, where it signals and judges tens of threads), shorter than the
//   kernel's default (0.7 ms times 1 + log2 of the CPUs, up to 8), so that a
//   program thread's wake-up cannot cut in as a shorter slice may
//   (PREEMPT_SHORT);
// - then it sleeps 50 us (a futex wait on a word of its own): any wait for
//   the CPU falls here, before anything is stopped, and it comes back on a
//   fresh turn, protected for its slice.
// At the release it goes back to the kernel's default slice (the dumper is
// our thread: a custom slice it inherited from the program thread that
// started it was never meant for it); a slice of 1 ms or less that it had
// before is left as it is (the kernel does not say whether it was custom). Policy, nice and the reset-on-fork
// flag stay (a renice landing between our read and write is undone: a
// window of microseconds); a real-time, deadline or idle policy is left
// alone; kernels 6.6-6.11 ignore the field, older ones (CFS) refuse the
// call, and the sleep alone still starts the stop on a fresh turn (CFS's
// wake-up credit). No sched_setattr where a seccomp filter may be installed:
// it is in systemd's @resources set, which filters commonly kill on.
// Dumper, outside the stop. begin returns the slice it set (0: none): pass
// it to end.
uint64_t stop_slice_begin();
void stop_slice_end(uint64_t slice);

}  // namespace threadsnap::detail
