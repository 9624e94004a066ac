// threadsnap: the interposed blocking calls, expanded from shim/calls.def.
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

#include "preload/common.h"
#include "shim/block_scope.h"
#include "shim/calls.h"

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

const char* call_name(uint32_t id) {
  static const char* const kNames[] = {
      "none",
#define TS_X_NAME(ret, name, ...) #name,
      TS_CALLS(TS_X_NAME) TS_COND_CALLS(TS_X_NAME)
#undef TS_X_NAME
#define TS_X_NAME1(name) #name,
      TS_SPECIAL_CALLS(TS_X_NAME1)
#undef TS_X_NAME1
  };
  return id < kCallCount ? kNames[id] : "unknown";
}

void resolve_cond_real();  // shim/cond_compat.cpp
void resolve_misc_real();  // shim/thread.cpp
void resolve_vfork_real();  // shim/vfork.cpp

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
}

}  // namespace threadsnap::detail

namespace {
// The lowest fd a select waits on, or -1.
int first_fd(int n, const fd_set* r, const fd_set* w, const fd_set* e) {
  for (int fd = 0; fd < n && fd < FD_SETSIZE; ++fd)
    if ((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (e && FD_ISSET(fd, e))) return fd;
  return -1;
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

#define TS_X_WRAP(ret, name, params, args, obj, obj2, fast)                              \
  TS_EXPORT ret name params noexcept(noexcept(::name args)) {                            \
    auto fn = real::name.load(std::memory_order_relaxed);                                \
    if (TS_UNLIKELY(!fn)) {                                                              \
      resolve_all_real();                                                                \
      fn = real::name.load(std::memory_order_relaxed);                                   \
    }                                                                                    \
    Record* self = t_self;                                                               \
    if (!self || t_depth) return fn args;                                                \
    fast BlockScope scope(self, kCall_##name, (uintptr_t)(obj), (uintptr_t)(obj2));     \
    ret result = fn args;                                                                \
    int saved_errno = errno;                                                             \
    scope.leave();                                                                       \
    errno = saved_errno;                                                                 \
    return result;                                                                       \
  }
TS_CALLS(TS_X_WRAP)
#undef TS_X_WRAP
