// threadsnap: start-up, the trigger and the dumper thread.
#pragma once

#include <atomic>

namespace threadsnap::detail {

// Loads the configuration and resolves the real functions, once. Safe to call
// before the constructor (another library's constructor may create threads).
// NOT async-signal-safe.
void ensure_init();

extern char g_process_name[16];
// Bumped in a thread each time the trigger handler runs in it, so that a
// wrapper can tell that a wait ended only because of our trigger.
extern constinit thread_local unsigned t_trigger_hits __attribute__((tls_model("initial-exec")));   // the main thread's name at start-up
extern int g_stop_signal;         // real-time signal that stops running threads
extern std::atomic<int> g_trigger_signal;  // 0 when the signal trigger is off

// Wakes the dumper (eventfd write). Async-signal-safe.
void wake_dumper();

// The program took a signal threadsnap uses: step aside, say so once.
// Async-signal-safe (the program may call sigaction from a handler).
void signal_taken_by_program(int sig);

}  // namespace threadsnap::detail
