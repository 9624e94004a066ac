// threadsnap: the dump names of the wrapped calls and of their kinds; see
// call_ids.h.
#include "base/call_ids.h"

namespace threadsnap::detail {

const char* call_name(uint32_t id) {
  static const char* const kNames[] = {
      "none",
#define TS_X_NAME(ret, name, ...) #name,
      TS_CALLS(TS_X_NAME) TS_COND_CALLS(TS_X_NAME)
#undef TS_X_NAME
#define TS_X_NAME1(name, kind) #name,
      TS_SPECIAL_CALLS(TS_X_NAME1)
#undef TS_X_NAME1
  };
  return id < kCallCount ? kNames[id] : "unknown";
}

const char* wait_kind_name(WaitKind k) {
  static const char* const kNames[] = {
      "none",
#define TS_X_KIND_NAME(k) #k,
      TS_WAIT_KINDS(TS_X_KIND_NAME)
#undef TS_X_KIND_NAME
  };
  static_assert(sizeof(kNames) / sizeof(kNames[0]) == kWaitKindCount);
  return k < kWaitKindCount ? kNames[k] : "none";
}

}  // namespace threadsnap::detail
