// threadsnap: ids and dump names of the wrapped calls, and the resolution of
// the real functions. Expanded from shim/calls.def.
#pragma once

#include <signal.h>

#include <atomic>
#include <cstdint>

#include "shim/calls.def"

namespace threadsnap::detail {

// shim/signals.cpp: set, or a copy of it without threadsnap's stop signal.
const sigset_t* without_our_signals(const sigset_t* set, sigset_t* copy);
// shim/signals.cpp: drops a stop signal of ours pending in this thread.
void drop_pending_stop_signal();

enum CallId : uint32_t {
  kCallNone = 0,
#define TS_X_ID(ret, name, ...) kCall_##name,
  TS_CALLS(TS_X_ID) TS_COND_CALLS(TS_X_ID)
#undef TS_X_ID
#define TS_X_ID1(name) kCall_##name,
  TS_SPECIAL_CALLS(TS_X_ID1)
#undef TS_X_ID1
  kCallCount
};

// The name written to the dump for a call id. Async-signal-safe.
const char* call_name(uint32_t id);

// Resolves every real function (dlsym/dlvsym RTLD_NEXT). Safe to call more
// than once and before the constructor. NOT async-signal-safe.
void resolve_all_real();

// Looks up the next definition of a symbol; reports a missing one once.
void* resolve_next(const char* name, const char* version);

// The real function behind a hand-written wrapper, resolved on first use
// (wrappers may run before our constructor). NOT async-signal-safe the
// first time.
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
