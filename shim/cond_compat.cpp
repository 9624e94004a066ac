// threadsnap: the condvar calls, exported in both glibc ABIs.
//
// glibc has two condvar implementations: GLIBC_2.2.5 (old binaries) and
// GLIBC_2.3.2 (everything built since 2003). An unversioned wrapper would
// catch old binaries too and forward them to the new ABI, which corrupts
// their condvars (mutrace and libfaketime hit the same). So each version is
// exported under its own name with .symver (see preload/exports.map) and
// forwarded with dlvsym to the same version.
#include <dlfcn.h>
#include <pthread.h>

#include <atomic>

#include "preload/common.h"
#include "shim/block_scope.h"
#include "shim/calls.h"

using namespace threadsnap::detail;

namespace {

constexpr const char* kNew = "GLIBC_2.3.2";
constexpr const char* kOld = "GLIBC_2.2.5";

// Pass-through calls exported in both versions so that a binary bound to
// either gets the matching real function. X(ret, name, params, args)
#define TS_COND_PLAIN(X)                                                              \
  X(int, pthread_cond_init, (pthread_cond_t* c, const pthread_condattr_t* a), (c, a)) \
  X(int, pthread_cond_destroy, (pthread_cond_t* c), (c))                              \
  X(int, pthread_cond_signal, (pthread_cond_t* c), (c))                               \
  X(int, pthread_cond_broadcast, (pthread_cond_t* c), (c))

#define TS_X_PTRS(ret, name, params, args, ...)          \
  std::atomic<ret(*) params> real_##name##_new{nullptr}; \
  std::atomic<ret(*) params> real_##name##_old{nullptr};
TS_COND_CALLS(TS_X_PTRS)
TS_COND_PLAIN(TS_X_PTRS)
#undef TS_X_PTRS

}  // namespace

namespace threadsnap::detail {
void resolve_cond_real() {
#define TS_X_RES(ret, name, params, args, ...) \
  real_fn(real_##name##_new, #name, kNew);         \
  real_fn(real_##name##_old, #name, kOld);
  TS_COND_CALLS(TS_X_RES)
  TS_COND_PLAIN(TS_X_RES)
#undef TS_X_RES
}
}  // namespace threadsnap::detail

#define TS_X_COND(ret, name, params, args, obj, obj2, ver, tag)                          \
  TS_EXPORT ret threadsnap_##name##_##tag params {                                       \
    auto fn = real_fn(real_##name##_##tag, #name, ver);                                      \
    Record* self = t_self;                                                               \
    if (TS_PASS_THROUGH(self)) return fn args;                                           \
    BlockScope scope(self, kCall_##name, (uintptr_t)(obj), (uintptr_t)(obj2));           \
    ret result = fn args;                                                                \
    scope.leave();                                                                       \
    return result;                                                                       \
  }
#define TS_X_COND_NEW(ret, name, params, args, obj, obj2, kind) \
  TS_X_COND(ret, name, params, args, obj, obj2, kNew, new)
#define TS_X_COND_OLD(ret, name, params, args, obj, obj2, kind) \
  TS_X_COND(ret, name, params, args, obj, obj2, kOld, old)
TS_COND_CALLS(TS_X_COND_NEW)
TS_COND_CALLS(TS_X_COND_OLD)

#define TS_X_PLAIN(ret, name, params, args)                                   \
  TS_EXPORT ret threadsnap_##name##_new params {                              \
    return real_fn(real_##name##_new, #name, kNew) args;                          \
  }                                                                           \
  TS_EXPORT ret threadsnap_##name##_old params {                              \
    return real_fn(real_##name##_old, #name, kOld) args;                          \
  }
TS_COND_PLAIN(TS_X_PLAIN)

#define TS_X_SYMVER(ret, name, ...)                                            \
  __asm__(".symver threadsnap_" #name "_new, " #name "@@GLIBC_2.3.2");         \
  __asm__(".symver threadsnap_" #name "_old, " #name "@GLIBC_2.2.5");
TS_COND_CALLS(TS_X_SYMVER)
TS_COND_PLAIN(TS_X_SYMVER)
