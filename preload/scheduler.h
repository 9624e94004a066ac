// threadsnap: what stop 1 needs from the scheduler (issue 13): frozen
// verdicts, which let stop 1 end without waiting for a signalled thread to
// get a CPU, and the dumper's short slice, which keeps the scheduler from
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
// thread that did not run cannot have changed its mask). A frozen thread
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

// The dumper's slice while it stops the world: EEVDF's custom slice
// (sched_attr.sched_runtime of a fair policy, Linux 6.12 and later, open to
// any user). With the shortest one (0.1 ms) its deadline comes first, so the
// wake-ups its own tgkills and the program's cause do not preempt it, and
// stop 1 (the walk, a tgkill per running thread, clock reads) is not cut
// into pieces by the scheduler; its share of the CPU stays that of its
// nice. At the release it goes back to the kernel's default slice (the
// dumper is our thread: a custom slice it inherited from the program thread
// that started it was never meant for it). Policy, nice and the
// reset-on-fork flag stay (a renice landing between our read and write is
// undone: a window of microseconds); a real-time, deadline or idle policy is
// left alone; kernels 6.6-6.11 ignore the field, older ones refuse the call.
// Not in stw (the unchanged baseline), and not where a seccomp filter may be
// installed: sched_setattr is in systemd's @resources set, which filters
// commonly kill on. Dumper, outside the stop. begin: whether it was set
// (pass that to end).
bool stop_slice_begin();
void stop_slice_end(bool began);

}  // namespace threadsnap::detail
