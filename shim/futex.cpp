// threadsnap: syscall(SYS_futex, ...) waits, which libstdc++'s
// counting_semaphore, atomic::wait and many databases use directly.
// Everything else passes straight through.
#include <linux/futex.h>
#include <sched.h>
#include <sys/prctl.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "preload/common.h"
#include "preload/entry.h"
#include "unwind/stack_copy.h"
#include "shim/block_scope.h"
#include "shim/calls.h"

using namespace threadsnap::detail;

namespace {

using syscall_fn = long (*)(long, ...);
std::atomic<syscall_fn> g_real_syscall{nullptr};

bool is_futex_wait(long op) {
  switch (op & FUTEX_CMD_MASK) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET:
    case FUTEX_LOCK_PI:
    case FUTEX_LOCK_PI2:
    case FUTEX_WAIT_REQUEUE_PI:
      return true;
    default:
      return false;
  }
}

}  // namespace

// Reads six arguments whatever the call takes, as the kernel's ABI does; the
// sixth may be a stack slot the caller did not fill, so no ASan here.
#if defined(__SANITIZE_ADDRESS__)
#define TS_SYSCALL_NO_ASAN __attribute__((no_sanitize("address")))
#else
#define TS_SYSCALL_NO_ASAN
#endif
TS_EXPORT TS_SYSCALL_NO_ASAN long syscall(long number, ...) noexcept {
  va_list ap;
  va_start(ap, number);
  long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
  long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
  va_end(ap);
  syscall_fn fn = real_fn(g_real_syscall, "syscall");
  // The calls signals.cpp wraps as libc functions, made raw.
  if (number == SYS_seccomp) safe_read_forbid();
  if (number == SYS_prctl && a == PR_SET_SECCOMP) safe_read_forbid();
  if ((number == SYS_unshare && (a & (CLONE_NEWUSER | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM))) ||
      (number == SYS_setns && (b == 0 || (b & (CLONE_NEWUSER | CLONE_NEWNS)))))
    dumper_step_aside();
  Record* self = t_self;
  if (number != SYS_futex || !is_futex_wait(b) || TS_PASS_THROUGH(self))
    return fn(number, a, b, c, d, e, f);
  BlockScope scope(self, kCall_syscall, static_cast<uintptr_t>(a), 0);
  long result = fn(number, a, b, c, d, e, f);
  int saved_errno = errno;
  scope.leave();
  errno = saved_errno;
  return result;
}
