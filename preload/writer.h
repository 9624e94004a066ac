// threadsnap: writes a dump in format v1 (DESIGN.md) to
// $THREADSNAP_DIR/threadsnap.<pid>.<seq>.txt: mode 0600, created with
// O_EXCL|O_NOFOLLOW under a temporary name and renamed without replacing,
// so a file with the final name is always whole. Dumper (on the dumper
// thread, outside any stop).
#pragma once

#include <cstdint>


namespace threadsnap::detail {

// What the coordinator measured of a dump, for its header lines.
struct DumpTimes {
  uint64_t time_ns;   // CLOCK_REALTIME at stop 1
  uint64_t stop1_mono_ns;  // CLOCK_MONOTONIC at stop 1
  uint64_t stop1_ns, sweep_ns, stop2_ns;
  uint32_t gen;       // the dump's generation
  uint32_t frozen;    // signalled threads judged frozen at the cut (captured later)
  uint64_t dumper_cpu_ns;  // the dumper's CPU time for this dump, up to the writing
  bool task_scan;     // /proc/self/task was read for untracked threads
};


void write_dump(const uint32_t* members, uint32_t count, const DumpTimes& t);

// A forked child numbers its own dumps from 1.
void writer_after_fork_child();

}  // namespace threadsnap::detail
