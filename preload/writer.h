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
  uint32_t kept;      // blocked threads still in the call of the previous dump: frames kept
  uint32_t record_token;  // nonzero: a record dump for the recorder with this token
};


// A record dump (`threadsnap record`, scripts/threadsnap_record.py): asked
// for with rt_tgsigqueueinfo of the wake signal to the dumper, si_code
// SI_QUEUE, si_value = kRecordRequestMagic << 32 | token (token nonzero).
// It is written as threadsnap.PID.SEQ.rec with the header keys
// record_token and record_base (the SEQ of the last record dump of the same
// token that was written whole, 0 if none), and a thread whose line less
// blocked_ns and whose frames are as that base dump listed them is written
// only in the `same TID,TID,...` line before `end`.
inline constexpr uint32_t kRecordRequestMagic = 0x74737263;  // "tsrc"

void write_dump(const uint32_t* members, uint32_t count, const DumpTimes& t);

// A forked child numbers its own dumps from 1.
void writer_after_fork_child();

}  // namespace threadsnap::detail
