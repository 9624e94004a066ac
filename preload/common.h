// threadsnap: threadsnap's log and the cached process id (the base layer's
// primitives are in base/raw.h, included here for the many users of both).
#pragma once

#include "base/raw.h"

namespace threadsnap::detail {

#define TS_VERSION "0.3.0"

// Writes "threadsnap: " + text + "\n" in one write(2) to threadsnap's log:
// by default the file log_path() in the dump directory, opened and closed
// for each line (the program's stderr is its output: parents and tests
// capture it); to stderr only when THREADSNAP_LOG=stderr. Warnings and
// errors are also kept as the control record's last_message. Saves errno.
// Ordinary context or Dumper (the control record's lock): callers block
// signals where a program's handler could interrupt them.
void log_line(Line& text);
void log_msg(const char* a, const char* b = nullptr, const char* c = nullptr);
// The log file's path, DIR/threadsnap.PID.log, or nothing when the log is
// not a file. log_reset() caches the pid (start-up, fork child).
void log_path(Line& out);
void log_reset();

// The dumper's work after stop 2 (unwinding, writing) waits for nobody, so
// every 128 threads it gives its CPU to any program thread that waits for
// one (sched_yield costs about a microsecond when none does), but only
// until g_yield_until_ns (take_dump sets it 200 ms after the stops): on a
// saturated machine each yield can cost the dumper a whole time slice, and
// a dump must still end. Not in the sweep: while it lasts, every thread
// that wakes copies its own stack, so a longer sweep costs the program
// more than it gains. Only at points where the dumper holds no lock a
// program thread could want.
extern uint64_t g_yield_until_ns;
inline void yield_to_program(uint32_t i) {
  if ((i & 127) == 127 && now_ns() < g_yield_until_ns) raw_syscall(SYS_sched_yield);
}

}  // namespace threadsnap::detail

// g_pid, the cached process id, is process-local state.
#include "preload/process_local.h"
