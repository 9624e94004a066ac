// threadsnap: the shim's own header: the resolution of the real functions
// (declared once, here, for the library's own use too) and the signal-set
// helpers of the wrappers. The call ids, kinds and names are the base
// layer's (base/call_ids.h, from base/calls.def).
#pragma once

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdint>

#include "base/call_ids.h"

namespace threadsnap::detail {

// shim/signals.cpp: set, or a copy of it without threadsnap's stop signal.
const sigset_t* without_our_signals(const sigset_t* set, sigset_t* copy);
// shim/signals.cpp: drops a stop signal of ours pending in this thread.
void drop_pending_stop_signal();

// Resolves every real function (dlsym/dlvsym RTLD_NEXT). Safe to call more
// than once and before the constructor. Ordinary context.
void resolve_all_real();
// The parts of resolve_all_real that live with their hand-written wrappers.
void resolve_cond_real();     // shim/cond_compat.cpp
void resolve_misc_real();     // shim/thread.cpp
void resolve_vfork_real();    // shim/vfork.cpp
void resolve_longjmp_real();  // shim/longjmp.cpp

// The real functions behind wrappers, for the library's own use (the
// constructor's file starts the dumper and installs handlers with them, so
// that neither goes through our own wrapper).
int real_pthread_create(pthread_t* t, const pthread_attr_t* a, void* (*fn)(void*), void* arg);
int real_sigaction(int sig, const struct sigaction* act, struct sigaction* old);

// Looks up the next definition of a symbol; reports a missing one once.
void* resolve_next(const char* name, const char* version);

// The real function behind a hand-written wrapper, resolved on first use
// (wrappers may run before our constructor). Any context once resolved;
// the first call is Ordinary context (dlsym).
template <typename F>
F real_fn(std::atomic<F>& slot, const char* name, const char* version = nullptr) {
  F f = slot.load(std::memory_order_acquire);
  if (__builtin_expect(!f, 0)) {
    f = reinterpret_cast<F>(resolve_next(name, version));
    slot.store(f, std::memory_order_release);
  }
  return f;
}

}  // namespace threadsnap::detail
