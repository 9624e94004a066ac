// Prints the results and errno of wrapped calls in many situations, one line
// each, "case: ret=R errno=E [...]". The output has no addresses, tids or
// times, so the test compares a run under the library with a plain run: a
// wrapper must return what the real call returned, with the same errno (also
// on success: errno is preset to a sentinel and must stay untouched).
//
// Covers timeouts (ETIMEDOUT), EAGAIN/EBUSY from non-blocking variants,
// EINVAL/EBADF/EPIPE/ECHILD/EDEADLK, a real EINTR from a handler installed
// without SA_RESTART (and a transparent restart with SA_RESTART), and
// pthread_cancel inside wrapped calls: cleanup handlers and C++ destructors
// must run.
#include <sys/resource.h>
#include "testprog.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <semaphore>
#include <functional>
#include <shared_mutex>
#include <thread>

using namespace std::chrono_literals;

static const int kSentinel = 4242;

static void report(const char* what, long ret, int err) {
  tp_line("%s: ret=%ld errno=%d", what, ret, err);
}

// Runs `call` with errno preset to the sentinel, then reports ret and errno.
#define CASE(name, expr)          \
  do {                            \
    errno = kSentinel;            \
    long r_ = (long)(expr);       \
    report(name, r_, errno);      \
  } while (0)

// ---- helpers ---------------------------------------------------------------

struct Holder {  // holds a lock in another thread until told to release it
  pthread_t t;
  std::atomic<int> state{0};  // 1: holding, 2: release
  std::function<void()> lock, unlock;
};
static void* holder_main(void* a) {
  auto* h = static_cast<Holder*>(a);
  h->lock();
  h->state = 1;
  while (h->state != 2) usleep(1000);
  h->unlock();
  return nullptr;
}
static void hold(Holder& h) {
  pthread_create(&h.t, nullptr, holder_main, &h);
  while (h.state != 1) usleep(500);
}
static void release(Holder& h) {
  h.state = 2;
  pthread_join(h.t, nullptr);
}

static std::atomic<int> g_handled{0};
static void on_usr1(int) { g_handled++; }

static void install(int sig, bool restart) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = restart ? SA_RESTART : 0;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, nullptr);
}

// Blocks a thread in `fn`, sends it SIGUSR1 until `fn` returns, then reports.
struct Interrupted {
  std::function<long()> fn;
  std::atomic<bool> done{false};
  std::atomic<bool> started{false};
  long ret = 0;
  int err = 0;
};
static void* interrupted_main(void* a) {
  auto* in = static_cast<Interrupted*>(a);
  in->started = true;
  errno = kSentinel;
  in->ret = in->fn();
  in->err = errno;
  in->done = true;
  return nullptr;
}
static void run_interrupted(const char* name, std::function<long()> fn,
                            std::function<void()> after_signals = nullptr) {
  Interrupted in;
  in.fn = std::move(fn);
  pthread_t t;
  pthread_create(&t, nullptr, interrupted_main, &in);
  while (!in.started) usleep(200);
  int sent = 0;
  while (!in.done) {
    // Send until the call returns (a signal that lands before the thread
    // blocks runs the handler; the next one then interrupts the call).
    if (sent < 3 || !after_signals) {
      pthread_kill(t, SIGUSR1);
      sent++;
    } else if (sent == 3) {
      after_signals();  // SA_RESTART case: the call kept waiting; now satisfy it
      sent++;
    }
    usleep(2000);
  }
  pthread_join(t, nullptr);
  report(name, in.ret, in.err);
}

// ---- cancellation ------------------------------------------------------------

static std::atomic<int> g_cleanups{0}, g_dtors{0};
struct Guard {
  ~Guard() { g_dtors++; }
};
static void cleanup(void*) { g_cleanups++; }

struct CancelCase {
  std::function<void()> fn;
  std::atomic<bool> started{false};
  std::atomic<pid_t> tid{0};
};

// True once thread `tid` of this process sleeps in the kernel.
static bool sleeping(pid_t tid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
  FILE* f = fopen(path, "r");
  if (!f) return false;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char* p = strrchr(buf, ')');
  return p && p[1] == ' ' && p[2] == 'S';
}
static void* cancel_main(void* a) {
  auto* c = static_cast<CancelCase*>(a);
  Guard g;
  pthread_cleanup_push(cleanup, nullptr);
  c->tid = tp_gettid();
  c->started = true;
  c->fn();
  pthread_cleanup_pop(0);
  return nullptr;
}
static void run_cancel(const char* name, std::function<void()> fn) {
  g_cleanups = 0;
  g_dtors = 0;
  CancelCase c;
  c.fn = std::move(fn);
  pthread_t t;
  pthread_create(&t, nullptr, cancel_main, &c);
  while (!c.started) usleep(200);
  // Cancel it while it is parked in the call (deferred cancellation would act
  // at the call anyway, so the result does not depend on this wait).
  for (int i = 0; i < 2000 && !sleeping(c.tid); i++) usleep(1000);
  pthread_cancel(t);
  void* res = nullptr;
  int r = pthread_join(t, &res);
  tp_line("cancel %s: join=%d canceled=%d cleanup=%d dtor=%d", name, r,
          res == PTHREAD_CANCELED, g_cleanups.load(), g_dtors.load());
}

// ---- the cases ------------------------------------------------------------------

static void mutexes() {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  Holder h;
  h.lock = [&] { pthread_mutex_lock(&m); };
  h.unlock = [&] { pthread_mutex_unlock(&m); };
  hold(h);
  CASE("mutex_trylock_held", pthread_mutex_trylock(&m));
  struct timespec past = tp_in(CLOCK_REALTIME, -1000);
  CASE("mutex_timedlock_past", pthread_mutex_timedlock(&m, &past));
  struct timespec soon = tp_in(CLOCK_REALTIME, 30);
  CASE("mutex_timedlock_30ms", pthread_mutex_timedlock(&m, &soon));
  struct timespec bad = {time(nullptr) + 10, 2000000000L};
  CASE("mutex_timedlock_einval", pthread_mutex_timedlock(&m, &bad));
  struct timespec msoon = tp_in(CLOCK_MONOTONIC, 30);
  CASE("mutex_clocklock_30ms", pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &msoon));
  release(h);
  CASE("mutex_lock_free", pthread_mutex_lock(&m));
  CASE("mutex_unlock", pthread_mutex_unlock(&m));

  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_t em;
  pthread_mutex_init(&em, &a);
  CASE("errorcheck_lock", pthread_mutex_lock(&em));
  CASE("errorcheck_relock", pthread_mutex_lock(&em));
  CASE("errorcheck_unlock", pthread_mutex_unlock(&em));
  CASE("errorcheck_unlock_again", pthread_mutex_unlock(&em));

  std::timed_mutex tm;
  tm.lock();
  std::atomic<int> got{-1};
  std::pair<std::timed_mutex*, std::atomic<int>*> arg(&tm, &got);
  pthread_t t;
  pthread_create(&t, nullptr, [](void* p) -> void* {
    auto* pair = static_cast<std::pair<std::timed_mutex*, std::atomic<int>*>*>(p);
    *pair->second = pair->first->try_lock_for(30ms);
    return nullptr;
  }, &arg);
  pthread_join(t, nullptr);
  tm.unlock();
  tp_line("timed_mutex_try_lock_for: %d", got.load());
}

static void conds() {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  pthread_mutex_lock(&m);
  struct timespec past = tp_in(CLOCK_REALTIME, -1000);
  CASE("cond_timedwait_past", pthread_cond_timedwait(&c, &m, &past));
  struct timespec soon = tp_in(CLOCK_REALTIME, 30);
  CASE("cond_timedwait_30ms", pthread_cond_timedwait(&c, &m, &soon));
  struct timespec msoon = tp_in(CLOCK_MONOTONIC, 30);
  CASE("cond_clockwait_30ms", pthread_cond_clockwait(&c, &m, CLOCK_MONOTONIC, &msoon));
  CASE("cond_clockwait_badclock", pthread_cond_clockwait(&c, &m, CLOCK_PROCESS_CPUTIME_ID, &msoon));
  struct timespec bad = {time(nullptr) + 10, -5};
  CASE("cond_timedwait_einval", pthread_cond_timedwait(&c, &m, &bad));
  pthread_mutex_unlock(&m);

  // A real handshake: the waiter sees the predicate after a signal.
  static int flag = 0;
  static pthread_mutex_t hm = PTHREAD_MUTEX_INITIALIZER;
  static pthread_cond_t hc = PTHREAD_COND_INITIALIZER;
  pthread_t t;
  pthread_create(&t, nullptr, [](void*) -> void* {
    pthread_mutex_lock(&hm);
    flag = 1;
    pthread_cond_signal(&hc);
    pthread_mutex_unlock(&hm);
    return nullptr;
  }, nullptr);
  pthread_mutex_lock(&hm);
  int r = 0;
  while (!flag && r == 0) r = pthread_cond_wait(&hc, &hm);
  pthread_mutex_unlock(&hm);
  pthread_join(t, nullptr);
  tp_line("cond_handshake: ret=%d flag=%d", r, flag);

  std::mutex sm;
  std::condition_variable cv;
  std::unique_lock<std::mutex> l(sm);
  tp_line("cv_wait_for_30ms: %d", cv.wait_for(l, 30ms) == std::cv_status::timeout);
}

static void rwlocks() {
  pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
  Holder h;
  h.lock = [&] { pthread_rwlock_wrlock(&rw); };
  h.unlock = [&] { pthread_rwlock_unlock(&rw); };
  hold(h);
  CASE("rwlock_tryrdlock_wheld", pthread_rwlock_tryrdlock(&rw));
  CASE("rwlock_trywrlock_wheld", pthread_rwlock_trywrlock(&rw));
  struct timespec soon = tp_in(CLOCK_REALTIME, 30);
  CASE("rwlock_timedrdlock_30ms", pthread_rwlock_timedrdlock(&rw, &soon));
  soon = tp_in(CLOCK_REALTIME, 30);
  CASE("rwlock_timedwrlock_30ms", pthread_rwlock_timedwrlock(&rw, &soon));
  struct timespec msoon = tp_in(CLOCK_MONOTONIC, 30);
  CASE("rwlock_clockrdlock_30ms", pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &msoon));
  release(h);
  CASE("rwlock_rdlock_free", pthread_rwlock_rdlock(&rw));
  CASE("rwlock_rdlock_twice", pthread_rwlock_rdlock(&rw));
  CASE("rwlock_trywrlock_rheld", pthread_rwlock_trywrlock(&rw));
  CASE("rwlock_unlock1", pthread_rwlock_unlock(&rw));
  CASE("rwlock_unlock2", pthread_rwlock_unlock(&rw));
  CASE("rwlock_wrlock", pthread_rwlock_wrlock(&rw));
  CASE("rwlock_wrlock_self", pthread_rwlock_wrlock(&rw));  // EDEADLK
  CASE("rwlock_unlock3", pthread_rwlock_unlock(&rw));
}

static void semaphores() {
  sem_t s;
  sem_init(&s, 0, 0);
  CASE("sem_trywait_empty", sem_trywait(&s));
  struct timespec soon = tp_in(CLOCK_REALTIME, 30);
  CASE("sem_timedwait_30ms", sem_timedwait(&s, &soon));
  struct timespec bad = {time(nullptr) + 10, 2000000000L};
  CASE("sem_timedwait_einval", sem_timedwait(&s, &bad));
  sem_post(&s);
  CASE("sem_wait_posted", sem_wait(&s));
  struct timespec msoon = tp_in(CLOCK_MONOTONIC, 30);
  CASE("sem_clockwait_30ms", sem_clockwait(&s, CLOCK_MONOTONIC, &msoon));

  std::counting_semaphore<4> cs(0);
  tp_line("counting_semaphore_try_acquire_for: %d", cs.try_acquire_for(30ms));
  cs.release(2);
  cs.acquire();
  tp_line("counting_semaphore_try_acquire: %d %d", cs.try_acquire(), cs.try_acquire());

  pthread_barrier_t b;
  pthread_barrier_init(&b, nullptr, 2);
  static std::atomic<int> other{7};
  pthread_t t;
  pthread_create(&t, nullptr, [](void* p) -> void* {
    other = pthread_barrier_wait(static_cast<pthread_barrier_t*>(p));
    return nullptr;
  }, &b);
  int mine = pthread_barrier_wait(&b);
  pthread_join(t, nullptr);
  int serial = (mine == PTHREAD_BARRIER_SERIAL_THREAD) + (other == PTHREAD_BARRIER_SERIAL_THREAD);
  int zero = (mine == 0) + (other == 0);
  tp_line("barrier: serial=%d zero=%d", serial, zero);
}

static void fds() {
  signal(SIGPIPE, SIG_IGN);
  int p[2];
  pipe(p);
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  char buf[16];
  CASE("read_nonblock_empty", read(p[0], buf, sizeof buf));
  CASE("write_pipe", write(p[1], "ab", 2));
  CASE("read_pipe", read(p[0], buf, sizeof buf));
  CASE("read_badfd", read(-1, buf, 1));
  CASE("write_badfd", write(12345, buf, 1));
  CASE("read_zero", read(p[0], nullptr, 0));
  close(p[0]);
  CASE("write_epipe", write(p[1], "x", 1));
  close(p[1]);

  int sp[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
  CASE("recv_dontwait", recv(sp[0], buf, sizeof buf, MSG_DONTWAIT));
  CASE("send", send(sp[1], "hey", 3, 0));
  CASE("recv", recv(sp[0], buf, sizeof buf, 0));
  CASE("recvfrom_dontwait", recvfrom(sp[0], buf, sizeof buf, MSG_DONTWAIT, nullptr, nullptr));
  CASE("sendto_badfd", sendto(-1, buf, 1, 0, nullptr, 0));
  close(sp[1]);
  CASE("recv_eof", recv(sp[0], buf, sizeof buf, 0));
  close(sp[0]);

  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  strcpy(a.sun_path, "/nonexistent/threadsnap-socket");
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  CASE("connect_enoent", connect(s, (struct sockaddr*)&a, sizeof a));
  close(s);
  int l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "threadsnap-parity-%d", (int)getpid());
  socklen_t alen = offsetof(struct sockaddr_un, sun_path) + 1 + n;
  bind(l, (struct sockaddr*)&a, alen);
  listen(l, 0);
  CASE("accept_nonblock", accept(l, nullptr, nullptr));
  CASE("accept4_nonblock", accept4(l, nullptr, nullptr, SOCK_CLOEXEC));
  int c1 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  CASE("connect_ok", connect(c1, (struct sockaddr*)&a, alen));
  int c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  CASE("connect_backlog_full", connect(c2, (struct sockaddr*)&a, alen));
  int acc = accept(l, nullptr, nullptr);
  tp_line("accept_ok: %d", acc >= 0);
  close(acc);
  close(c1);
  close(c2);
  close(l);

  int q[2];
  pipe(q);
  struct pollfd pf = {q[0], POLLIN, 0};
  CASE("poll_timeout", poll(&pf, 1, 20));
  write(q[1], "z", 1);
  CASE("poll_ready", poll(&pf, 1, 1000));
  tp_line("poll_revents: %d", pf.revents);
  // nfds beyond RLIMIT_NOFILE gives EINVAL. A small soft limit for this one
  // call keeps the array real (sanitizers read all nfds entries).
  struct rlimit saved_lim, small_lim;
  getrlimit(RLIMIT_NOFILE, &saved_lim);
  small_lim = saved_lim;
  small_lim.rlim_cur = 64;
  setrlimit(RLIMIT_NOFILE, &small_lim);
  struct pollfd many[65];
  for (auto& m : many) m = {-1, POLLIN, 0};
  many[0] = pf;
  CASE("poll_einval", poll(many, 65, 0));
  setrlimit(RLIMIT_NOFILE, &saved_lim);
  struct timespec ts = {0, 20000000};
  pf.revents = 0;
  CASE("ppoll_ready", ppoll(&pf, 1, &ts, nullptr));
  fd_set rs;
  FD_ZERO(&rs);
  FD_SET(q[0], &rs);
  struct timeval tv = {0, 20000};
  CASE("select_ready", select(q[0] + 1, &rs, nullptr, nullptr, &tv));
  tp_line("select_isset: %d", FD_ISSET(q[0], &rs) != 0);
  read(q[0], buf, 1);
  FD_ZERO(&rs);
  FD_SET(q[0], &rs);
  tv = {0, 20000};
  CASE("select_timeout", select(q[0] + 1, &rs, nullptr, nullptr, &tv));
  CASE("select_bignfds", select(1000, &rs, nullptr, nullptr, &tv));
  int ep = epoll_create1(0);
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = 77;
  epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &ev);
  struct epoll_event out[4];
  CASE("epoll_wait_timeout", epoll_wait(ep, out, 4, 20));
  write(q[1], "z", 1);
  CASE("epoll_wait_ready", epoll_wait(ep, out, 4, 1000));
  tp_line("epoll_data: %llu", (unsigned long long)out[0].data.u64);
  CASE("epoll_wait_ebadf", epoll_wait(-1, out, 4, 0));
  CASE("epoll_wait_einval", epoll_wait(ep, out, 0, 0));
  close(ep);
  close(q[0]);
  close(q[1]);
}

// Arguments glibc rejects before it looks at the lock (glibc 2.36: the
// clock and abstime->tv_nsec of the rwlock timed/clock calls, the clock of
// pthread_mutex_clocklock, tv_nsec and the clock of sem_timedwait /
// sem_clockwait): EINVAL, and the lock or semaphore, free before the call,
// is still free (the count unchanged) after it.
static void bad_arguments() {
  struct timespec badns = tp_in(CLOCK_REALTIME, 1000);
  badns.tv_nsec = 1000000000L;
  struct timespec mbad = tp_in(CLOCK_MONOTONIC, 1000);
  mbad.tv_nsec = -1;
  struct timespec msoon = tp_in(CLOCK_MONOTONIC, 1000);
  pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
  auto rw_free = [&](const char* name) {
    int r = pthread_rwlock_trywrlock(&rw);
    tp_line("%s_then_free: %d", name, r == 0);
    if (r == 0) pthread_rwlock_unlock(&rw);
  };
  CASE("rwlock_timedrdlock_badnsec", pthread_rwlock_timedrdlock(&rw, &badns));
  rw_free("rwlock_timedrdlock_badnsec");
  CASE("rwlock_timedwrlock_badnsec", pthread_rwlock_timedwrlock(&rw, &badns));
  rw_free("rwlock_timedwrlock_badnsec");
  CASE("rwlock_clockrdlock_badclock",
       pthread_rwlock_clockrdlock(&rw, CLOCK_PROCESS_CPUTIME_ID, &msoon));
  rw_free("rwlock_clockrdlock_badclock");
  CASE("rwlock_clockwrlock_badclock",
       pthread_rwlock_clockwrlock(&rw, CLOCK_PROCESS_CPUTIME_ID, &msoon));
  rw_free("rwlock_clockwrlock_badclock");
  CASE("rwlock_clockrdlock_badnsec", pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &mbad));
  rw_free("rwlock_clockrdlock_badnsec");
  CASE("rwlock_clockwrlock_badnsec", pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &mbad));
  rw_free("rwlock_clockwrlock_badnsec");

  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  CASE("mutex_clocklock_badclock", pthread_mutex_clocklock(&m, CLOCK_PROCESS_CPUTIME_ID, &msoon));
  int r = pthread_mutex_trylock(&m);
  tp_line("mutex_clocklock_badclock_then_free: %d", r == 0);
  if (r == 0) pthread_mutex_unlock(&m);

  sem_t s;
  sem_init(&s, 0, 1);
  int v = -1;
  CASE("sem_timedwait_badnsec_posted", sem_timedwait(&s, &badns));
  sem_getvalue(&s, &v);
  tp_line("sem_timedwait_badnsec_posted_value: %d", v);
  CASE("sem_clockwait_badclock_posted", sem_clockwait(&s, CLOCK_PROCESS_CPUTIME_ID, &msoon));
  sem_getvalue(&s, &v);
  tp_line("sem_clockwait_badclock_posted_value: %d", v);
  CASE("sem_clockwait_badnsec_posted", sem_clockwait(&s, CLOCK_MONOTONIC, &mbad));
  sem_getvalue(&s, &v);
  tp_line("sem_clockwait_badnsec_posted_value: %d", v);
  sem_destroy(&s);
}

// Pointers the kernel rejects: EFAULT, as without the library (a wrapper
// that looked at the pollfd array or the fd sets itself would crash).
static volatile uintptr_t g_bad_address = 1;  // opaque to the compiler's checks
static void bad_pointers() {
  auto* bad = reinterpret_cast<struct pollfd*>(g_bad_address);
  CASE("poll_efault", poll(bad, 1, 0));
  struct timespec zero = {0, 0};
  CASE("ppoll_efault", ppoll(bad, 2, &zero, nullptr));
  auto* badset = reinterpret_cast<fd_set*>(g_bad_address);
  struct timeval tv = {0, 0};
  CASE("select_efault_read", select(8, badset, nullptr, nullptr, &tv));
  tv = {0, 0};
  CASE("select_efault_write", select(8, nullptr, badset, nullptr, &tv));
  tv = {0, 0};
  CASE("select_efault_except", select(8, nullptr, nullptr, badset, &tv));
  CASE("pselect_efault", pselect(8, badset, nullptr, nullptr, &zero, nullptr));
  CASE("poll_none", poll(nullptr, 0, 0));
}

static void sleeps() {
  struct timespec ts = {0, 1000000};
  CASE("nanosleep_1ms", nanosleep(&ts, nullptr));
  struct timespec bad = {0, 2000000000L};
  CASE("nanosleep_einval", nanosleep(&bad, nullptr));
  CASE("clock_nanosleep_1ms", clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr));
  CASE("clock_nanosleep_badclock", clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ts, nullptr));
  CASE("clock_nanosleep_einval", clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, nullptr));
  struct timespec past = tp_in(CLOCK_MONOTONIC, -5);
  CASE("clock_nanosleep_abs_past", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &past, nullptr));
  CASE("sleep_0", sleep(0));
  CASE("usleep_1ms", usleep(1000));
  std::this_thread::sleep_for(1ms);
  tp_line("sleep_for: ok");
}

static void signals_and_children() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGRTMIN + 3);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  struct timespec zero = {0, 0};
  CASE("sigtimedwait_none", sigtimedwait(&set, nullptr, &zero));
  struct timespec ms20 = {0, 20000000};
  CASE("sigtimedwait_20ms", sigtimedwait(&set, nullptr, &ms20));
  raise(SIGRTMIN + 3);
  siginfo_t si;
  int r = sigtimedwait(&set, &si, &zero);
  tp_line("sigtimedwait_pending: %d", r == SIGRTMIN + 3 && si.si_signo == SIGRTMIN + 3);
  raise(SIGRTMIN + 3);
  int sig = 0;
  CASE("sigwait_pending", sigwait(&set, &sig));
  tp_line("sigwait_sig: %d", sig == SIGRTMIN + 3);
  raise(SIGRTMIN + 3);
  CASE("sigwaitinfo_pending", sigwaitinfo(&set, &si) == SIGRTMIN + 3);

  CASE("waitpid_nochild", waitpid(-1, nullptr, 0));
  pid_t c = fork();
  if (c == 0) _exit(7);
  int st = 0;
  errno = kSentinel;
  pid_t w = waitpid(c, &st, 0);
  tp_line("waitpid_child: match=%d exited=%d code=%d errno=%d", w == c, WIFEXITED(st),
          WEXITSTATUS(st), errno);
  CASE("waitpid_again", waitpid(c, &st, WNOHANG));
  c = fork();
  if (c == 0) _exit(9);
  siginfo_t info;
  memset(&info, 0, sizeof info);
  CASE("waitid", waitid(P_PID, c, &info, WEXITED));
  tp_line("waitid_status: %d", info.si_status);
  c = fork();
  if (c == 0) _exit(5);
  errno = kSentinel;
  w = wait(&st);
  tp_line("wait: match=%d code=%d errno=%d", w == c, WEXITSTATUS(st), errno);

  CASE("join_self", pthread_join(pthread_self(), nullptr));
  pthread_t t;
  pthread_create(&t, nullptr, [](void*) -> void* { return (void*)42; }, nullptr);
  void* res = nullptr;
  CASE("join_value", pthread_join(t, &res));
  tp_line("join_result: %ld", (long)res);
}

static void futexes() {
  static int word = 1;
  CASE("futex_wait_mismatch", syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0));
  struct timespec ms20 = {0, 20000000};
  CASE("futex_wait_timeout", syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 1, &ms20, nullptr, 0));
  CASE("futex_wake_none", syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0));
  CASE("futex_badop", syscall(SYS_futex, &word, 99, 1, nullptr, nullptr, 0));
  CASE("syscall_getppid_ok", syscall(SYS_getppid) > 0);
  CASE("syscall_enosys", syscall(100000));
}

static void interrupts() {
  install(SIGUSR1, false);
  int p[2];
  pipe(p);
  char buf[4];
  run_interrupted("eintr_read", [&] { return (long)read(p[0], buf, 1); });
  run_interrupted("eintr_recv", [&] {
    int sp[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
    long r = recv(sp[0], buf, 1, 0);
    int e = errno;
    close(sp[0]);
    close(sp[1]);
    errno = e;
    return r;
  });
  run_interrupted("eintr_sem_wait", [&] {
    static sem_t s;
    sem_init(&s, 0, 0);
    return (long)sem_wait(&s);
  });
  run_interrupted("eintr_poll", [&] {
    struct pollfd pf = {p[0], POLLIN, 0};
    return (long)poll(&pf, 1, -1);
  });
  run_interrupted("eintr_epoll_wait", [&] {
    int ep = epoll_create1(0);
    struct epoll_event ev;
    long r = epoll_wait(ep, &ev, 1, -1);
    int e = errno;
    close(ep);
    errno = e;
    return r;
  });
  run_interrupted("eintr_nanosleep", [&] {
    struct timespec ts = {100, 0}, rem = {0, 0};
    long r = nanosleep(&ts, &rem);
    int e = errno;
    tp_line("eintr_nanosleep_rem_positive: %d", rem.tv_sec > 0 && rem.tv_sec <= 100);
    errno = e;
    return r;
  });
  run_interrupted("eintr_pause", [&] { return (long)pause(); });
  run_interrupted("eintr_accept", [&] {
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "threadsnap-eintr-%d", (int)getpid());
    bind(l, (struct sockaddr*)&a, offsetof(struct sockaddr_un, sun_path) + 1 + n);
    listen(l, 1);
    long r = accept(l, nullptr, nullptr);
    int e = errno;
    close(l);
    errno = e;
    return r;
  });
  run_interrupted("eintr_sigtimedwait", [&] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN + 4);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    struct timespec ts = {100, 0};
    return (long)sigtimedwait(&set, nullptr, &ts);
  });
  // Never EINTR: a mutex lock and a condition wait resume after the handler.
  static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&m);
  run_interrupted("nointr_mutex_lock", [&] { return (long)pthread_mutex_lock(&m); },
                  [&] { pthread_mutex_unlock(&m); });
  pthread_mutex_unlock(&m);  // the interrupted thread locked it and exited
  static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  static bool flag = false;
  run_interrupted("nointr_cond_wait", [&] {
    long r = 0;
    pthread_mutex_lock(&m);
    while (!flag && r == 0) r = pthread_cond_wait(&c, &m);
    pthread_mutex_unlock(&m);
    return r;
  }, [&] {
    pthread_mutex_lock(&m);
    flag = true;
    pthread_cond_signal(&c);
    pthread_mutex_unlock(&m);
  });

  // SA_RESTART: read is restarted transparently and returns the data.
  install(SIGUSR1, true);
  run_interrupted("restart_read", [&] { return (long)read(p[0], buf, 1); },
                  [&] { write(p[1], "r", 1); });
  tp_line("restart_read_data: %c", buf[0]);
  // The futex wait under sem_wait is restarted too: it returns only when posted.
  static sem_t rs;
  sem_init(&rs, 0, 0);
  run_interrupted("restart_sem_wait", [&] { return (long)sem_wait(&rs); },
                  [&] { sem_post(&rs); });
  run_interrupted("restart_cond_timedwait", [&] {
    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    pthread_mutex_lock(&m);
    struct timespec ts = tp_in(CLOCK_REALTIME, 60);
    long r = pthread_cond_timedwait(&c, &m, &ts);
    pthread_mutex_unlock(&m);
    return r;
  });
  signal(SIGUSR1, SIG_DFL);
  close(p[0]);
  close(p[1]);
  tp_line("handled_some: %d", g_handled.load() > 0);
}

static void cancels() {
  static int p[2];
  pipe(p);
  run_cancel("read", [] {
    char c;
    read(p[0], &c, 1);
  });
  run_cancel("cond_wait", [] {
    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    pthread_mutex_lock(&m);
    pthread_cleanup_push([](void*) { pthread_mutex_unlock(&m); }, nullptr);
    for (;;) pthread_cond_wait(&c, &m);
    pthread_cleanup_pop(0);
  });
  run_cancel("cond_timedwait", [] {
    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    pthread_mutex_lock(&m);
    pthread_cleanup_push([](void*) { pthread_mutex_unlock(&m); }, nullptr);
    struct timespec ts = tp_in(CLOCK_REALTIME, 100000);
    for (;;) pthread_cond_timedwait(&c, &m, &ts);
    pthread_cleanup_pop(0);
  });
  run_cancel("std_condition_variable", [] {
    static std::mutex m;
    static std::condition_variable cv;
    std::unique_lock<std::mutex> l(m);
    for (;;) cv.wait(l);
  });
  run_cancel("sem_wait", [] {
    static sem_t s;
    sem_init(&s, 0, 0);
    for (;;) sem_wait(&s);
  });
  run_cancel("poll", [] {
    struct pollfd pf = {p[0], POLLIN, 0};
    for (;;) poll(&pf, 1, -1);
  });
  run_cancel("nanosleep", [] {
    struct timespec ts = {100, 0};
    for (;;) nanosleep(&ts, nullptr);
  });
  run_cancel("sleep_for", [] {
    for (;;) std::this_thread::sleep_for(100s);
  });
  run_cancel("pause", [] {
    for (;;) pause();
  });
  run_cancel("accept", [] {
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "threadsnap-cancel-%d", (int)getpid());
    bind(l, (struct sockaddr*)&a, offsetof(struct sockaddr_un, sun_path) + 1 + n);
    listen(l, 1);
    for (;;) accept(l, nullptr, nullptr);
  });
  run_cancel("sigwait", [] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN + 5);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    int sig;
    for (;;) sigwait(&set, &sig);
  });
  run_cancel("waitpid", [] {
    pid_t c = fork();
    if (c == 0) {
      pause();
      _exit(0);
    }
    pthread_cleanup_push([](void* a) { kill((pid_t)(intptr_t)a, SIGKILL); waitpid((pid_t)(intptr_t)a, nullptr, 0); },
                         (void*)(intptr_t)c);
    for (;;) waitpid(c, nullptr, 0);
    pthread_cleanup_pop(0);
  });
  close(p[0]);
  close(p[1]);
}

int main() {
  mutexes();
  conds();
  rwlocks();
  semaphores();
  fds();
  bad_arguments();
  bad_pointers();
  sleeps();
  signals_and_children();
  futexes();
  interrupts();
  cancels();
  tp_line("end");
  return 0;
}
