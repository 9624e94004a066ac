// threadsnap: the snapshot coordinator: stop 1, the sweep, stop 2 (or the
// single stop of `stw` mode), and the capture paths of the other threads.
#pragma once

#include <signal.h>

#include "preload/registry.h"

namespace threadsnap::detail {

// The flags it moves, their writers and extents (one timeline): protocol.h.

// The dumper thread: takes one dump and writes it. Dumper (its stops are
// the stop path).
// record_token: nonzero for a record dump asked for by `threadsnap record`
// (preload/writer.h).
void take_dump(uint32_t record_token);

// The handler of the stop signal: claims and captures the interrupted
// thread, then waits until stop 1 ends. Any context (it is a handler).
void stop_signal_handler(int sig, siginfo_t* info, void* uc);

// Whether a call waits for a lock whose owner glibc records (the kind
// column of base/calls.def: mutex, rwlock). Any context.
bool is_lock_call(uint32_t call);

// The slow half of leaving a wrapped call while a dump is active.
// Any context: a program's signal handler that calls write() reaches it
// through the wrapper; it waits on our own futex words only and saves errno,
// and must stay so.
void barrier_slow(Record* r);

// The slow half of entering a wrapped call while a dump is active: if stop 1
// is still under way, wait for its end. The walk may have seen this thread
// running a moment ago and signalled it; the signal then lands here, not in
// the blocking call (where it would cause EINTR) or across an exec (where it
// would kill the new image). Any context, as barrier_slow.
void settle_on_entry(Record* r);

// The thread jumps out of a wrapped call's scope (shim/longjmp.cpp), maybe
// out of its own barrier: a claim it holds unfinished is finished now (as a
// timeout record), for nobody else may finish it, and no dump may claim the
// thread again until it is. Any context, as barrier_slow.
void leave_own_claim(Record* r);

// In a fork child, for the thread that forked: it may have forked from a
// program's handler that interrupted its barrier and may never return
// there (a server that starts a worker from its SIGCHLD handler), so the
// barrier's mark must not outlive the fork; if the handler does return,
// the barrier clears it on its way out as always. Fork child, one thread.
void coordinator_after_fork_child();

// A new thread's first act in its trampoline. Ordinary context (it may wait
// for the end of a stop on our own futex words).
void thread_started(Record* r);

}  // namespace threadsnap::detail
