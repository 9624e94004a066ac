// threadsnap: start-up, the signals, and the dumper thread's life.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>

#include "preload/process_local.h"

namespace threadsnap::detail {

// Loads the configuration and resolves the real functions, once. Safe to call
// before the constructor (another library's constructor may create threads).
// Ordinary context.
void ensure_init();

extern char g_process_name[16];  // the main thread's name at start-up
// The real-time signal that stops running threads and wakes the dumper; it
// moves when the program sets it (0: none left).
extern std::atomic<int> g_stop_signal;
extern std::atomic<int> g_trigger_signal;  // 0 when the signal trigger is off

// The dumper's tid, 0 while there is none. Any context.
pid_t dumper_tid();

// Asks for a dump: wakes the dumper (a signal to it alone), or, while there
// is none, notes the request and starts the dumper if this thread holds no
// lock of glibc's: sp is the stack pointer of the code that asked (the
// interrupted code when in_handler). Any context.
void request_dump(uintptr_t sp, bool in_handler);

// Work left for the next wrapper entry (a call boundary of the program):
// kWorkDumper, a dump was asked for before the dumper ran (it starts there,
// unless inside a handler of the program's); kWorkRecord, a fork child has
// no control record yet (made there, not in every child at fork: a child
// that only execs never needs one).
inline constexpr int kWorkDumper = 1, kWorkRecord = 2;
inline constexpr auto& g_entry_work = g_local.entry_work;  // zero in a fork child
void entry_work_slow();

// The program creates a thread: the dumper starts now if it does not run.
// Ordinary context.
void program_starts_thread();

// The registry has no program thread left (called by registry_release).
// Any context.
void note_no_program_threads();

// unshare/setns need a single-threaded process: if the caller is the only
// program thread, the dumper ends first (it starts again when needed).
void dumper_step_aside();

// Whether sig is one of threadsnap's own (stop signal, trigger while on).
bool owns_signal(int sig);

// The program sets a disposition for sig: threadsnap steps aside from the
// trigger, or moves its stop signal elsewhere. Ordinary context.
void program_sets_signal(int sig);

}  // namespace threadsnap::detail
