// threadsnap (base layer): the ids, kinds and dump names of the wrapped
// calls, expanded from the one table base/calls.def (the wrappers themselves
// are expanded from it in shim/wrappers.cpp). Every layer may use these.
#pragma once

#include <cstdint>

#include "base/calls.def"

namespace threadsnap::detail {

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

// What each call waits for: the kind column of base/calls.def, and the
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
// The state word keeps the call id above its low byte (preload/protocol.h).
static_assert(kCallCount <= 256, "call ids must fit the state word");

// What call id `call` waits for. Any context.
constexpr WaitKind call_kind(uint32_t call) {
  return call < kCallCount ? kCallKinds[call] : kWaitNone;
}
// Waits for a lock whose owner glibc records in the lock (mutex: __owner or
// the PI/robust lock word; rwlock: __cur_writer), read at the cut.
constexpr bool is_lock_kind(WaitKind k) { return k == kWait_mutex || k == kWait_rwlock; }

// The name of a kind in the dump (`kind=`). Any context.
const char* wait_kind_name(WaitKind k);

// The name written to the dump for a call id. Any context.
const char* call_name(uint32_t id);

}  // namespace threadsnap::detail
