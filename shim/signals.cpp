// threadsnap: what the program does with signals, namespaces and seccomp.
//
// - sigaction/signal: a signal threadsnap uses belongs to the program as
//   soon as the program sets it (any disposition): threadsnap steps aside
//   from the trigger or moves its stop signal elsewhere first. What the
//   program reads back about a signal of ours is what it would read without
//   threadsnap: the default action.
// - sigwait*/signalfd/sigpending: a stop signal of ours may stay pending in
//   a thread that blocked it when a stop timed out; the program never
//   receives or sees it. exec drops it (a pending signal survives execve and
//   would kill the new image).
// - unshare/setns need a single-threaded process: the dumper steps aside.
// - seccomp: before the program installs a filter, threadsnap stops using
//   process_vm_readv (a filter may kill on it).
// In a vfork child (the parent's memory, another pid) nothing of threadsnap's
// state changes.
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>

#include <atomic>
#include <cstring>

#include "preload/common.h"
#include "preload/entry.h"
#include "preload/registry.h"
#include "shim/block_scope.h"
#include "shim/calls.h"
#include "unwind/stack_copy.h"

using namespace threadsnap::detail;

namespace {
using sigaction_fn = int (*)(int, const struct sigaction*, struct sigaction*);
using signal_fn = sighandler_t (*)(int, sighandler_t);
using signalfd_fn = int (*)(int, const sigset_t*, int);
using sigpending_fn = int (*)(sigset_t*);
using prctl_fn = int (*)(int, unsigned long, unsigned long, unsigned long, unsigned long);
using sigmask_fn = int (*)(int, const sigset_t*, sigset_t*);
using unshare_fn = int (*)(int);
using setns_fn = int (*)(int, int);
std::atomic<sigaction_fn> g_real_sigaction{nullptr};
std::atomic<signal_fn> g_real_signal{nullptr};
std::atomic<signalfd_fn> g_real_signalfd{nullptr};
std::atomic<sigpending_fn> g_real_sigpending{nullptr};
std::atomic<prctl_fn> g_real_prctl{nullptr};
std::atomic<sigmask_fn> g_real_pthread_sigmask{nullptr};
std::atomic<sigmask_fn> g_real_sigprocmask{nullptr};

// pthread_sigmask and sigprocmask: whether the thread blocks the stop
// signal is kept in its record (skip_signal), so that stop 1 never sends it
// a stop signal that would stay pending (issue 11, item 3: a pending signal
// of ours is seen by sigwait*, signalfd, survives exec). Blocking it while a
// stop is under way first lets a stop signal already sent land (settle).
int change_mask(sigmask_fn fn, int how, const sigset_t* set, sigset_t* old) {
  Record* r = t_self;
  int stop = g_stop_signal.load(std::memory_order_relaxed);
  if (!r || !set || !stop || t_depth) return fn(how, set, old);
  bool in_set = sigismember(set, stop) == 1;
  bool blocks = (how == SIG_BLOCK || how == SIG_SETMASK) && in_set;
  bool unblocks = (how == SIG_UNBLOCK && in_set) || (how == SIG_SETMASK && !in_set);
  if (blocks && !r->skip_signal.load(std::memory_order_relaxed)) {
    r->skip_signal.store(true, std::memory_order_seq_cst);
    if (g_active.load(std::memory_order_seq_cst)) settle_on_entry(r);
    int rc = fn(how, set, old);
    if (rc != 0) r->skip_signal.store(false, std::memory_order_seq_cst);
    return rc;
  }
  int rc = fn(how, set, old);
  if (rc == 0 && unblocks) r->skip_signal.store(false, std::memory_order_seq_cst);
  return rc;
}
std::atomic<unshare_fn> g_real_unshare{nullptr};
std::atomic<setns_fn> g_real_setns{nullptr};

// Our process, not a vfork child sharing its memory.
bool in_our_process() { return raw_getpid() == g_pid.load(std::memory_order_relaxed); }

// What a program reads for a signal it never set: the default action.
void as_default(struct sigaction* old) {
  if (old) memset(old, 0, sizeof(*old));
}

}  // namespace

namespace threadsnap::detail {

int real_sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  return real_fn(g_real_sigaction, "sigaction")(sig, act, old);
}

const sigset_t* without_our_signals(const sigset_t* set, sigset_t* copy) {
  if (!set) return set;
  int stop = g_stop_signal.load(std::memory_order_relaxed);
  if (!stop || !sigismember(set, stop)) return set;
  memcpy(copy, set, sizeof(*copy));
  sigdelset(copy, stop);
  return copy;
}

void drop_pending_stop_signal() {
  int stop = g_stop_signal.load(std::memory_order_relaxed);
  if (!stop) return;
  int saved = errno;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, stop);
  timespec zero = {0, 0};
  while (raw_syscall(SYS_rt_sigtimedwait, reinterpret_cast<long>(&set), 0,
                     reinterpret_cast<long>(&zero), 8) > 0) {
  }
  errno = saved;
}

}  // namespace threadsnap::detail

TS_EXPORT int sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept {
  if (!in_our_process() || !owns_signal(sig)) {
    if (act && in_our_process()) program_sets_signal(sig);  // notes it as the program's
    return real_sigaction(sig, act, old);
  }
  if (!act) {
    int rc = real_sigaction(sig, nullptr, old);
    if (rc == 0) as_default(old);
    return rc;
  }
  program_sets_signal(sig);
  int rc = real_sigaction(sig, act, old);
  if (rc == 0) as_default(old);
  return rc;
}

TS_EXPORT sighandler_t signal(int sig, sighandler_t handler) noexcept {
  signal_fn fn = real_fn(g_real_signal, "signal");
  if (!in_our_process()) return fn(sig, handler);
  bool ours = owns_signal(sig);
  program_sets_signal(sig);
  sighandler_t prev = fn(sig, handler);
  return ours && prev != SIG_ERR ? SIG_DFL : prev;
}

TS_EXPORT int signalfd(int fd, const sigset_t* mask, int flags) noexcept {
  sigset_t copy;
  return real_fn(g_real_signalfd, "signalfd")(fd, without_our_signals(mask, &copy), flags);
}

TS_EXPORT int sigpending(sigset_t* set) noexcept {
  int rc = real_fn(g_real_sigpending, "sigpending")(set);
  int stop = g_stop_signal.load(std::memory_order_relaxed);
  if (rc == 0 && stop) sigdelset(set, stop);
  return rc;
}

TS_EXPORT int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) noexcept {
  return change_mask(real_fn(g_real_pthread_sigmask, "pthread_sigmask"), how, set, old);
}

TS_EXPORT int sigprocmask(int how, const sigset_t* set, sigset_t* old) noexcept {
  return change_mask(real_fn(g_real_sigprocmask, "sigprocmask"), how, set, old);
}

TS_EXPORT int prctl(int option, ...) noexcept {
  va_list ap;
  va_start(ap, option);
  unsigned long a = va_arg(ap, unsigned long), b = va_arg(ap, unsigned long);
  unsigned long c = va_arg(ap, unsigned long), d = va_arg(ap, unsigned long);
  va_end(ap);
  if (option == PR_SET_SECCOMP) safe_read_forbid();
  return real_fn(g_real_prctl, "prctl")(option, a, b, c, d);
}

TS_EXPORT int unshare(int flags) noexcept {
  // CLONE_NEWUSER implies CLONE_THREAD; CLONE_THREAD/SIGHAND/VM need a
  // single-threaded process (else EINVAL).
  if (in_our_process() && (flags & (CLONE_NEWUSER | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)))
    dumper_step_aside();
  return real_fn(g_real_unshare, "unshare")(flags);
}

TS_EXPORT int setns(int fd, int nstype) noexcept {
  // Joining a user or mount namespace needs a single-threaded process (the
  // kind of fd may be unknown here: nstype 0).
  if (in_our_process() && (nstype == 0 || (nstype & (CLONE_NEWUSER | CLONE_NEWNS))))
    dumper_step_aside();
  return real_fn(g_real_setns, "setns")(fd, nstype);
}
