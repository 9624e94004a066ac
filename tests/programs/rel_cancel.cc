// rel_cancel: pthread_cancel of threads blocked inside wrapped calls while
// dumps run back to back.
//
//   rel_cancel ROUNDS [MIN_DUMPS]
//
// Runs at least ROUNDS rounds, and more until MIN_DUMPS dumps were taken.
// Each round starts one victim per kind, each blocked in a wrapped
// cancellation point (pthread_cond_wait, pthread_cond_timedwait, read, poll,
// select, epoll_wait, nanosleep, clock_nanosleep, sem_wait, accept, recv,
// sigwait, pthread_join), waits until the victims sleep in the kernel, then
// cancels and joins them. Each victim holds a C++ object whose destructor
// must run (forced unwinding crosses the wrapper) and has a cleanup handler
// (the cond_wait victims unlock the mutex there). A background thread takes
// dumps back to back (threadsnap_trigger), checks each is whole and deletes
// it; THREADSNAP_TEST_SWEEP_DELAY_MS makes cancels land during sweeps.
// Prints "ok cancel ..." or FAIL lines, then "ready" and serves stdin
// ("quit") so that the test can take a last dump: only the main, spinner and
// dump-loop threads must remain.
#include "rel_util.h"

#include <netinet/in.h>
#include <poll.h>
#include <semaphore.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>

#include <atomic>

namespace {

std::atomic<int> g_failures{0};
std::atomic<int> g_destructors{0}, g_cleanups{0};
std::atomic<int> g_stop{0}, g_stop_dumps{0};
std::atomic<long> g_dumps{0};

#define FAIL(...)                  \
  do {                             \
    rel_line("FAIL " __VA_ARGS__); \
    g_failures++;                  \
  } while (0)

struct Guard {
  ~Guard() { g_destructors++; }
};

pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
int g_pipe[2], g_sockpair[2], g_listen_fd, g_epoll_fd;
sem_t g_sem;
pthread_t g_forever;

void cleanup_count(void*) { g_cleanups++; }
void cleanup_unlock(void* m) {
  g_cleanups++;
  pthread_mutex_unlock(static_cast<pthread_mutex_t*>(m));
}

enum Kind {
  kCondWait, kCondTimedWait, kRead, kPoll, kSelect, kEpoll, kNanosleep, kClockNanosleep,
  kSemWait, kAccept, kRecv, kSigwait, kJoin, kKinds
};
const char* const kNames[kKinds] = {"cond_wait", "cond_timedwait", "read",  "poll",
                                    "select",    "epoll_wait",     "nanosleep",
                                    "clock_nsleep", "sem_wait",    "accept", "recv",
                                    "sigwait",   "join"};

void block_in(Kind k) {
  switch (k) {
    case kCondWait:
    case kCondTimedWait: {
      pthread_mutex_lock(&g_mu);
      pthread_cleanup_push(cleanup_unlock, &g_mu);
      for (;;) {
        if (k == kCondWait) {
          pthread_cond_wait(&g_cv, &g_mu);
        } else {
          struct timespec ts;
          clock_gettime(CLOCK_REALTIME, &ts);
          ts.tv_sec += 3600;
          pthread_cond_timedwait(&g_cv, &g_mu, &ts);
        }
      }
      pthread_cleanup_pop(1);
      break;
    }
    case kRead: {
      char c;
      for (;;) read(g_pipe[0], &c, 1);
    }
    case kPoll: {
      struct pollfd p = {g_pipe[0], POLLIN, 0};
      for (;;) poll(&p, 1, -1);
    }
    case kSelect: {
      for (;;) {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(g_pipe[0], &r);
        select(g_pipe[0] + 1, &r, nullptr, nullptr, nullptr);
      }
    }
    case kEpoll: {
      struct epoll_event ev;
      for (;;) epoll_wait(g_epoll_fd, &ev, 1, -1);
    }
    case kNanosleep: {
      for (;;) {
        struct timespec ts = {3600, 0};
        nanosleep(&ts, nullptr);
      }
    }
    case kClockNanosleep: {
      for (;;) {
        struct timespec ts = {3600, 0};
        clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
      }
    }
    case kSemWait:
      for (;;) sem_wait(&g_sem);
    case kAccept:
      for (;;) accept(g_listen_fd, nullptr, nullptr);
    case kRecv: {
      char c;
      for (;;) recv(g_sockpair[0], &c, 1, 0);
    }
    case kSigwait: {
      sigset_t s;
      sigemptyset(&s);
      sigaddset(&s, SIGUSR1);  // blocked in every thread (main blocks it first)
      int sig;
      for (;;) sigwait(&s, &sig);
    }
    case kJoin:
      for (;;) pthread_join(g_forever, nullptr);
    case kKinds:
      break;
  }
}

struct Victim {
  pthread_t t;
  Kind kind;
  std::atomic<pid_t> tid{0};
};

void* victim_main(void* p) {
  auto* v = static_cast<Victim*>(p);
  pthread_setname_np(pthread_self(), kNames[v->kind]);
  Guard guard;  // must be destroyed by the forced unwind
  pthread_cleanup_push(cleanup_count, nullptr);
  v->tid = rel_gettid();
  block_in(v->kind);
  pthread_cleanup_pop(0);
  return nullptr;
}

void* forever_main(void*) {
  rel_register("forever");
  pthread_mutex_lock(&g_mu);
  while (!g_stop) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
  return nullptr;
}

void* spinner_main(void*) {
  rel_register("spinner");
  volatile long n = 0;
  while (!g_stop) n = n + 1;
  return nullptr;
}

// Dumps back to back, checking each one and deleting it.
void* dumper_main(void*) {
  rel_register("dumploop");
  static char buf[1 << 20];
  pid_t pid = getpid();
  for (int seq = 1; !g_stop_dumps; seq++) {
    if (rel_trigger() != 0) return nullptr;
    if (rel_wait_dump(pid, seq, buf, sizeof buf, 20000) < 0) {
      FAIL("dump %d did not appear", seq);
      return nullptr;
    }
    if (const char* why = rel_check_dump_text(buf, nullptr)) FAIL("dump %d: %s", seq, why);
    char path[1200];
    rel_dump_path(path, sizeof path, pid, seq);
    unlink(path);
    g_dumps++;
  }
  return nullptr;
}

char task_state(pid_t tid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
  if (rel_read_file(path, buf, sizeof buf) <= 0) return 0;
  const char* p = strrchr(buf, ')');
  return p && p[1] == ' ' ? p[2] : 0;
}

}  // namespace

int main(int argc, char** argv) {
  int min_rounds = argc >= 2 ? atoi(argv[1]) : 20;
  long min_dumps = argc >= 3 ? atol(argv[2]) : 0;
  int rounds = 0;
  rel_register("main");
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, nullptr);  // inherited by every thread
  if (pipe(g_pipe) || socketpair(AF_UNIX, SOCK_STREAM, 0, g_sockpair)) rel_die("pipe");
  g_listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (g_listen_fd < 0 || bind(g_listen_fd, (struct sockaddr*)&a, sizeof a) ||
      listen(g_listen_fd, 4))
    rel_die("listen");
  g_epoll_fd = epoll_create1(0);
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  if (g_epoll_fd < 0 || epoll_ctl(g_epoll_fd, EPOLL_CTL_ADD, g_pipe[0], &ev)) rel_die("epoll");
  sem_init(&g_sem, 0, 0);
  pthread_t bg[3];
  pthread_create(&g_forever, nullptr, forever_main, nullptr);
  pthread_create(&bg[0], nullptr, spinner_main, nullptr);
  pthread_create(&bg[1], nullptr, dumper_main, nullptr);

  int cancelled = 0, not_sleeping = 0;
  for (int r = 0; r < min_rounds || (g_dumps < min_dumps && r < 100000); r++, rounds++) {
    Victim v[kKinds];
    for (int k = 0; k < kKinds; k++) {
      v[k].kind = static_cast<Kind>(k);
      if (pthread_create(&v[k].t, nullptr, victim_main, &v[k]) != 0) rel_die("pthread_create");
    }
    // Cancel once each victim sleeps in the kernel (inside its wrapper).
    uint64_t deadline = rel_now_ms() + 5000;
    for (int k = 0; k < kKinds; k++) {
      while (rel_now_ms() < deadline && (!v[k].tid || task_state(v[k].tid) != 'S')) rel_sleep_ms(1);
      if (!v[k].tid || task_state(v[k].tid) != 'S') not_sleeping++;
    }
    for (int k = 0; k < kKinds; k++) {
      int rc = pthread_cancel(v[k].t);
      if (rc != 0) FAIL("round %d: pthread_cancel(%s) = %d", r, kNames[k], rc);
    }
    for (int k = 0; k < kKinds; k++) {
      void* ret = nullptr;
      int rc = pthread_join(v[k].t, &ret);
      if (rc != 0 || ret != PTHREAD_CANCELED)
        FAIL("round %d: %s joined with rc %d, retval %p (not PTHREAD_CANCELED)", r, kNames[k], rc,
             ret);
      else
        cancelled++;
    }
    // The cond_wait victims' cleanup handlers released the mutex.
    if (pthread_mutex_trylock(&g_mu) != 0) FAIL("round %d: mutex still held after cancels", r);
    else pthread_mutex_unlock(&g_mu);
  }
  int want = rounds * kKinds;
  if (g_destructors != want) FAIL("destructors ran %d times, want %d", g_destructors.load(), want);
  // Every victim's counting handler, plus the unlock handler of the two condvar victims.
  if (g_cleanups != want + 2 * rounds)
    FAIL("cleanup handlers ran %d times, want %d", g_cleanups.load(), want + 2 * rounds);
  rel_line("%s cancel rounds=%d cancelled=%d destructors=%d cleanups=%d dumps=%ld not_sleeping=%d",
           g_failures ? "FAIL" : "ok", rounds, cancelled, g_destructors.load(), g_cleanups.load(),
           g_dumps.load(), not_sleeping);
  // Stop the dump loop, keep main, spinner and forever for a last dump.
  g_stop_dumps = 1;
  pthread_join(bg[1], nullptr);
  rel_line("ready");
  char cmd[64];
  while (rel_read_cmd(cmd, sizeof cmd))
    if (strcmp(cmd, "quit") == 0) break;
  g_stop = 1;
  pthread_mutex_lock(&g_mu);
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  pthread_join(g_forever, nullptr);
  pthread_join(bg[0], nullptr);
  return g_failures ? 1 : 0;
}
