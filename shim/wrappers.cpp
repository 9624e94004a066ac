// threadsnap: the interposed blocking calls, expanded from base/calls.def.
//
// Each wrapper: if the calling thread is not tracked (threadsnap's own
// dumper, a thread we did not see start, a nested call), it calls the real
// function and nothing else. Otherwise it tries the uncontended fast path
// where there is one, then records "blocked in C on O since T" with the
// registers of its own frame, calls the real function, and passes the
// barrier. The caller gets exactly the real result and errno.
#include <dlfcn.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>

#include "preload/common.h"
#include "shim/block_scope.h"
#include "shim/calls.h"
#include "unwind/stack_copy.h"

using namespace threadsnap::detail;

namespace threadsnap::detail {

namespace {
bool g_missing_reported = false;
}

void* resolve_next(const char* name, const char* version) {
  void* p = version ? dlvsym(RTLD_NEXT, name, version) : dlsym(RTLD_NEXT, name);
  if (!p && !g_missing_reported) {
    g_missing_reported = true;
    log_msg("error: cannot resolve ", name, "; calls to it will fail");
  }
  return p;
}

namespace real {
#define TS_X_PTR(ret, name, params, args, ...) std::atomic<ret(*) params> name{nullptr};
TS_CALLS(TS_X_PTR)
#undef TS_X_PTR
}  // namespace real

void resolve_all_real() {
#define TS_X_RESOLVE(ret, name, params, args, ...)                                    \
  if (!real::name.load(std::memory_order_relaxed))                                    \
    real::name.store(reinterpret_cast<ret(*) params>(resolve_next(#name, nullptr)), \
                     std::memory_order_relaxed);
  TS_CALLS(TS_X_RESOLVE)
#undef TS_X_RESOLVE
  resolve_cond_real();
  resolve_misc_real();
  resolve_vfork_real();
  resolve_longjmp_real();
}

}  // namespace threadsnap::detail

namespace {
// The clocks and timeouts glibc accepts for a timed lock or semaphore wait
// (futex_abstimed_supported_clockid, valid_nanoseconds).
inline bool clock_ok(clockid_t c) { return c == CLOCK_REALTIME || c == CLOCK_MONOTONIC; }
inline bool abstime_ok(const struct timespec* ts) {
  return ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000L;
}
// glibc declares the timeouts nonnull yet tests them for NULL in places (the
// rwlock calls): hide the pointer from the optimizer before comparing it.
inline bool is_null(const void* p) {
  __asm__("" : "+r"(p));
  return p == nullptr;
}
// The rwlock clock calls: glibc checks clock and tv_nsec when abstime is set.
inline bool clock_abstime_ok(clockid_t c, const struct timespec* ts) {
  return is_null(ts) || (clock_ok(c) && abstime_ok(ts));
}

// select/pselect: keeps the set pointers for a capture to read (never read
// here: the kernel validates them) and returns nfds as the call's obj.
inline uintptr_t select_sets(Record* self, int n, fd_set* r, fd_set* w, fd_set* e) {
  CallDetail& d = call_detail(self);
  d.wait_sets[0] = reinterpret_cast<uintptr_t>(r);
  d.wait_sets[1] = reinterpret_cast<uintptr_t>(w);
  d.wait_sets[2] = reinterpret_cast<uintptr_t>(e);
  return static_cast<uintptr_t>(n);
}
}  // namespace

// Fast paths: an uncontended lock never marks the thread blocked. A try that
// fails with anything but "busy" is what the blocking call would return too.
#define FAST_NONE
#define FAST_SIGSET(s)                        \
  sigset_t set_copy_;                         \
  s = without_our_signals(s, &set_copy_);
#define FAST_EXEC drop_pending_stop_signal();
#define FAST_PT(try_call)                     \
  {                                           \
    int rc_ = try_call;                       \
    if (rc_ != EBUSY) return rc_;             \
  }
#define FAST_SEM(s)                           \
  {                                           \
    int saved_ = errno;                       \
    if (sem_trywait(s) == 0) return 0;        \
    if (errno != EAGAIN) return -1;           \
    errno = saved_;                           \
  }
// Only where glibc would not reject the arguments before trying the lock.
#define FAST_PT_IF(valid, try_call) if (valid) FAST_PT(try_call)
#define FAST_SEM_IF(valid, s) if (valid) FAST_SEM(s)

#define TS_X_WRAP(ret, name, params, args, obj, obj2, fast, kind)                           \
  TS_EXPORT ret name params noexcept(noexcept(::name args)) {                            \
    auto fn = real::name.load(std::memory_order_relaxed);                                \
    if (TS_UNLIKELY(!fn)) {                                                              \
      resolve_all_real();                                                                \
      fn = real::name.load(std::memory_order_relaxed);                                   \
    }                                                                                    \
    Record* self = t_self;                                                               \
    if (TS_PASS_THROUGH(self)) return fn args;                                           \
    fast BlockScope scope(self, kCall_##name, (uintptr_t)(obj), (uintptr_t)(obj2));     \
    ret result = fn args;                                                                \
    int saved_errno = errno;                                                             \
    scope.leave();                                                                       \
    errno = saved_errno;                                                                 \
    return result;                                                                       \
  }
TS_CALLS(TS_X_WRAP)
#undef TS_X_WRAP
