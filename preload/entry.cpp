// threadsnap: start-up (constructor), the trigger signal, the dumper thread
// and fork.
//
// The trigger handler only writes to an eventfd; the dumper thread, created
// with every signal blocked, reads it and takes the dump. Triggers that
// arrive during a dump add up in the eventfd and give exactly one more.
#include "preload/entry.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

#include <cstring>

#include "preload/alloc.h"
#include "preload/config.h"
#include "preload/coordinator.h"
#include "preload/registry.h"
#include "preload/writer.h"
#include "shim/calls.h"
#include "unwind/unwinder.h"

namespace threadsnap::detail {

char g_process_name[16];
constinit thread_local unsigned t_trigger_hits TS_TLS = 0;
int g_stop_signal = 0;
std::atomic<int> g_trigger_signal{0};

int real_pthread_create(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
int real_sigaction(int sig, const struct sigaction* act, struct sigaction* old);

namespace {

std::atomic<int> g_init_state{0};  // 0 none, 1 running, 2 done
std::atomic<int> g_event_fd{-1};
std::atomic<int> g_stepped_aside{0};

void trigger_handler(int) {
  int saved = errno;
  ++t_trigger_hits;
  wake_dumper();
  errno = saved;
}

// Loads the private allocator and the unwinder on the first dump, so that a
// process that is never dumped (every child of a `threadsnap run` shell
// script, say) pays nothing for them. On the dumper thread, before any stop.
void load_helpers_once() {
  static bool loaded = false;
  if (loaded) return;
  loaded = true;
  if (!alloc_init())
    log_msg("warning: libmimalloc.so.2 not found; using mmap for threadsnap's own memory");
  if (!g_config.unwind_fp && !unwinder_init())
    log_msg("warning: libunwind-x86_64.so.8 not usable; unwinding with frame pointers");
}

// fork and the dumper: a child must not inherit mimalloc's or libunwind's
// locks held by a dumper that does not exist there. So fork waits until no
// dump is under way, and no dump starts while a fork is being prepared
// (Dekker on g_forks_pending / g_dump_running).
std::atomic<uint32_t> g_forks_pending{0};
std::atomic<uint32_t> g_dump_running{0};

void dump_begin() {
  for (;;) {
    g_dump_running.store(1, std::memory_order_seq_cst);
    uint32_t f = g_forks_pending.load(std::memory_order_seq_cst);
    if (!f) return;
    g_dump_running.store(0, std::memory_order_seq_cst);
    futex_wake_all(&g_dump_running);
    futex_wait(&g_forks_pending, f);
  }
}

void dump_end() {
  g_dump_running.store(0, std::memory_order_seq_cst);
  futex_wake_all(&g_dump_running);
}

void* dumper_main(void*) {
  unwinder_thread_keeps_signals_blocked();  // started with every signal blocked
  for (;;) {
    uint64_t n = 0;
    int fd = g_event_fd.load(std::memory_order_relaxed);
    long r = raw_syscall(SYS_read, fd, reinterpret_cast<long>(&n), sizeof(n));
    if (r == -EINTR || r == -EAGAIN) continue;
    if (r < 0) {
      log_msg("error: the dumper cannot read its trigger; dumps are off");
      return nullptr;
    }
    dump_begin();
    load_helpers_once();
    take_dump();
    dump_end();
  }
}

bool start_dumper() {
  int fd = static_cast<int>(raw_syscall(SYS_eventfd2, 0, EFD_CLOEXEC));
  if (fd < 0) return false;
  g_event_fd.store(fd, std::memory_order_relaxed);
  // Every signal blocked: the program may expect one thread to take its
  // signals, and our own must never land here.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t t;
  int rc = real_pthread_create(&t, &attr, dumper_main, nullptr);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc == 0) pthread_setname_np(t, "threadsnap");
  return rc == 0;
}

// The first real-time signal nobody handles: used to stop running threads.
int pick_stop_signal() {
  for (int sig = SIGRTMIN + 4; sig <= SIGRTMAX - 4; ++sig) {
    struct sigaction old;
    if (real_sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_DFL &&
        !(old.sa_flags & SA_SIGINFO))
      return sig;
  }
  return 0;
}

void install_handlers() {
  g_stop_signal = pick_stop_signal();
  if (!g_stop_signal) {
    log_msg("error: no free real-time signal to stop threads with; threadsnap is off");
    g_disabled = true;
    return;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = stop_signal_handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
  sigfillset(&sa.sa_mask);
  real_sigaction(g_stop_signal, &sa, nullptr);

  int trig = g_config.trigger_signal;
  if (!trig) return;
  struct sigaction old;
  real_sigaction(trig, nullptr, &old);
  bool taken = (old.sa_flags & SA_SIGINFO) ? old.sa_sigaction != nullptr
                                            : (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN);
  if (taken) {
    Line l;
    l.s("signal ").i(trig).s(" already has a handler in this program; the signal trigger is off (set THREADSNAP_SIGNAL to a free signal)");
    log_line(l);
    return;
  }
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = trigger_handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  real_sigaction(trig, &sa, nullptr);
  g_trigger_signal.store(trig, std::memory_order_relaxed);
}

// The forking thread may be signalled by a stop while it waits here: it is
// running, not in a wrapper, so its handler captures it as usual.
void atfork_prepare() {
  g_forks_pending.fetch_add(1, std::memory_order_seq_cst);
  for (;;) {
    uint32_t d = g_dump_running.load(std::memory_order_seq_cst);
    if (!d) break;
    futex_wait(&g_dump_running, d);
  }
  g_registry_lock.lock();
}

void forks_done() {
  g_forks_pending.fetch_sub(1, std::memory_order_seq_cst);
  futex_wake_all(&g_forks_pending);
}

void atfork_parent() {
  g_registry_lock.unlock();
  forks_done();
}

void atfork_child() {
  g_forks_pending.store(0, std::memory_order_relaxed);
  g_dump_running.store(0, std::memory_order_relaxed);
  // Only this thread exists now: a clean registry, a new dumper. A dump the
  // parent had in progress does not exist here.
  registry_after_fork_child();
  writer_after_fork_child();
  int fd = g_event_fd.load(std::memory_order_relaxed);
  if (fd >= 0) raw_syscall(SYS_close, fd);
  g_event_fd.store(-1);
  if (!g_disabled && !start_dumper()) log_msg("error: cannot start the dumper in the child");
}

}  // namespace

void wake_dumper() {
  int fd = g_event_fd.load(std::memory_order_relaxed);
  if (fd < 0) return;
  uint64_t one = 1;
  raw_syscall(SYS_write, fd, reinterpret_cast<long>(&one), sizeof(one));
}

void signal_taken_by_program(int sig) {
  if (sig == g_trigger_signal.load(std::memory_order_relaxed)) {
    g_trigger_signal.store(0, std::memory_order_relaxed);
    if (!g_stepped_aside.exchange(1)) {
      Line l;
      l.s("the program installed its own handler for signal ").i(sig)
          .s("; threadsnap's signal trigger is off (set THREADSNAP_SIGNAL to a free signal)");
      log_line(l);
    }
  } else if (sig == g_stop_signal) {
    Line l;
    l.s("the program took signal ").i(sig).s(", which threadsnap uses to stop threads; dumps may time out");
    log_line(l);
  }
}

void ensure_init() {
  int expected = 0;
  if (g_init_state.load(std::memory_order_acquire) == 2) return;
  if (!g_init_state.compare_exchange_strong(expected, 1)) return;  // in progress or done
  config_load();
  resolve_all_real();
  g_init_state.store(2, std::memory_order_release);
}

}  // namespace threadsnap::detail

using namespace threadsnap::detail;

namespace threadsnap::detail {
void unwind_abi_init();
}

__attribute__((constructor)) static void threadsnap_init() {
  ensure_init();
  unwind_abi_init();
  {
    int fd = static_cast<int>(raw_syscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>("/proc/self/comm"), O_RDONLY | O_CLOEXEC));
    if (fd >= 0) {
      long n = raw_syscall(SYS_read, fd, reinterpret_cast<long>(g_process_name), sizeof(g_process_name) - 1);
      if (n > 0 && g_process_name[n - 1] == '\n') g_process_name[n - 1] = 0;
      raw_syscall(SYS_close, fd);
    }
  }
  registry_init_main_thread();
  install_handlers();
  if (g_disabled) return;
  if (!start_dumper()) {
    log_msg("error: cannot start the dumper thread; threadsnap is off");
    g_disabled = true;
    return;
  }
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

TS_EXPORT int threadsnap_trigger(void) {
  wake_dumper();
  return 0;
}
