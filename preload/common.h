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
// NOT async-signal-safe (the control record's lock): callers block signals
// where a program's handler could interrupt them.
void log_line(Line& text);
void log_msg(const char* a, const char* b = nullptr, const char* c = nullptr);
// The log file's path, DIR/threadsnap.PID.log, or nothing when the log is
// not a file. log_reset() caches the pid (start-up, fork child).
void log_path(Line& out);
void log_reset();

// The process id, cached (raw getpid in a vfork child gives the child's:
// compare with this to know that the memory is the parent's).
extern std::atomic<pid_t> g_pid;

}  // namespace threadsnap::detail
