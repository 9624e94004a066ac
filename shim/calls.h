// threadsnap: ids and dump names of the wrapped calls, and the resolution of
// the real functions. Expanded from shim/calls.def.
#pragma once

#include <pthread.h>
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
#define TS_X_ID1(name, kind) kCall_##name,
  TS_SPECIAL_CALLS(TS_X_ID1)
#undef TS_X_ID1
  kCallCount
};

// What each call waits for: the kind column of shim/calls.def, and the
// one place the rest of the library learns it from.
enum WaitKind : uint8_t {
  kWaitNone = 0,
#define TS_X_KIND(k) kWait_##k,
  TS_WAIT_KINDS(TS_X_KIND)
#undef TS_X_KIND
  kWaitKindCount
};

inline constexpr WaitKind kCallKinds[] = {
    kWaitNone,
#define TS_X_KIND_ROW(ret, name, params, args, obj, obj2, fast, kind) kWait_##kind,
#define TS_X_KIND_COND(ret, name, params, args, obj, obj2, kind) kWait_##kind,
#define TS_X_KIND_SPECIAL(name, kind) kWait_##kind,
    TS_CALLS(TS_X_KIND_ROW) TS_COND_CALLS(TS_X_KIND_COND) TS_SPECIAL_CALLS(TS_X_KIND_SPECIAL)
#undef TS_X_KIND_ROW
#undef TS_X_KIND_COND
#undef TS_X_KIND_SPECIAL
};
static_assert(sizeof(kCallKinds) / sizeof(kCallKinds[0]) == kCallCount,
              "one kind per call id");
// The state word keeps the call id above 8 bits, and the stop-1 walk looks
// lock waits up in a 256-entry table (coordinator.cpp).
static_assert(kCallCount <= 256, "call ids must fit the stop-1 table");

// What call id `call` waits for. Any context.
constexpr WaitKind call_kind(uint32_t call) {
  return call < kCallCount ? kCallKinds[call] : kWaitNone;
}
// Waits for a lock whose owner glibc records in the lock (mutex: __owner or
// the PI/robust lock word; rwlock: __cur_writer), read at the cut.
constexpr bool is_lock_kind(WaitKind k) { return k == kWait_mutex || k == kWait_rwlock; }

// The name of a kind in the dump (`kind=`). Any context.
const char* wait_kind_name(WaitKind k);

struct Record;
// poll/ppoll/select/pselect: the wrapper records the caller's pointers, and
// a capture resolves the fd waited on with resolve_fd_wait (a safe read;
// -1 if none). Async-signal-safe.
bool is_fd_array_wait(uint32_t call);
uintptr_t resolve_fd_wait(const Record* r, uint32_t call);

// The name written to the dump for a call id. Async-signal-safe.
const char* call_name(uint32_t id);

// Resolves every real function (dlsym/dlvsym RTLD_NEXT). Safe to call more
// than once and before the constructor. NOT async-signal-safe.
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
