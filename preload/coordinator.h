// threadsnap: the snapshot coordinator: stop 1, the sweep, stop 2 (or the
// single stop of `stw` mode), and the capture paths of the other threads.
#pragma once

#include <signal.h>

#include "preload/registry.h"

namespace threadsnap::detail {

struct DumpTimes {
  uint64_t time_ns;   // CLOCK_REALTIME at stop 1
  uint64_t stop1_mono_ns;  // CLOCK_MONOTONIC at stop 1
  uint64_t stop1_ns, sweep_ns, stop2_ns;
  uint32_t gen;       // the dump's generation
  uint32_t frozen;    // signalled threads judged frozen at the cut (captured later)
  uint64_t dumper_cpu_ns;  // the dumper's CPU time for this dump, up to the writing
  bool task_scan;     // /proc/self/task was read for untracked threads
};

// Up to max tids of /proc/self/task; 0 without /proc. The dumper's (a
// static buffer).
uint32_t list_tasks(pid_t* tids, uint32_t max);

// The dumper thread: takes one dump and writes it. NOT async-signal-safe.
void take_dump();

// The handler of the stop signal: claims and captures the interrupted
// thread, then waits until stop 1 ends. Async-signal-safe.
void stop_signal_handler(int sig, siginfo_t* info, void* uc);

// Whether a call waits for a lock whose owner glibc records.
bool is_lock_call(uint32_t call);

// A new thread's first act in its trampoline. NOT async-signal-safe.
void thread_started(Record* r);

}  // namespace threadsnap::detail
