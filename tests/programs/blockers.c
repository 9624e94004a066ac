/* Threads blocked in every family of wrapped blocking calls, two CPU-bound
 * threads, and the main thread blocked in read(0).
 *
 * Each worker runs thread_main -> chain_a -> chain_b -> chain_c -> do_<call>
 * and blocks forever in its call; if a call ever returns, it prints
 * "woke NAME RET ERRNO" and blocks again (the test asserts no such line: a
 * dump must not disturb a parked thread). After set-up it prints one
 * "expect ..." line per thread (see testprog.h) and "ready". EOF on stdin
 * ends the program with exit status 0. Expect lines carry extra fields where
 * the dump names more (the owner of a held lock, a condvar's mutex). */
#include "testprog.h"

#include <fcntl.h>
#include <stddef.h>
#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <linux/futex.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#define FOREVER_MS (3600L * 1000L)

struct worker {
  const char* name;
  tp_op op;
  void* arg;
  const char* call;  /* "-" for running threads */
  uintptr_t obj;     /* expected wait object */
  int check_obj;
  const char* func;  /* innermost program function */
  char extra[96];    /* further key=value fields the dump must show, or "-" */
  pid_t tid;
  pthread_t thread;
};

static void woke(const char* what, long r, int err) { tp_line("woke %s %ld %d", what, r, err); }

/* ---- the objects the workers wait on ---- */
static pthread_mutex_t g_m_lock = PTHREAD_MUTEX_INITIALIZER;   /* held by main */
static pthread_mutex_t g_m_timed = PTHREAD_MUTEX_INITIALIZER;  /* held by main */
static pthread_mutex_t g_cm1 = PTHREAD_MUTEX_INITIALIZER, g_cm2 = PTHREAD_MUTEX_INITIALIZER,
                       g_cm3 = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv1 = PTHREAD_COND_INITIALIZER, g_cv2 = PTHREAD_COND_INITIALIZER;
static pthread_cond_t g_cv3;  /* CLOCK_MONOTONIC */
static pthread_rwlock_t g_rw_wheld = PTHREAD_RWLOCK_INITIALIZER;  /* write-held by main */
static pthread_rwlock_t g_rw_rheld = PTHREAD_RWLOCK_INITIALIZER;  /* read-held by main */
static pthread_barrier_t g_barrier;
static sem_t g_sem1, g_sem2;
static int g_pipe_r[2], g_pipe_w[2], g_pipe_poll[2], g_pipe_sel[2], g_pipe_ep[2];
static int g_sockpair[2], g_listen_fd, g_connect_fd, g_epfd;
static struct sockaddr_un g_full_addr;
static socklen_t g_full_len;
static pid_t g_child;
static int g_futex_word;
static pthread_t g_pause_thread;
static sigset_t g_sigset;

/* ---- one op per family; each blocks forever ---- */
NOIPA void do_join(void* a) {
  for (;;) { long r = pthread_join(*(pthread_t*)a, NULL); woke("join", r, r); }
}
NOIPA void do_mutex_lock(void* a) {
  for (;;) { long r = pthread_mutex_lock(a); woke("mutex", r, r); }
}
NOIPA void do_mutex_timedlock(void* a) {
  for (;;) {
    struct timespec ts = tp_in(CLOCK_REALTIME, FOREVER_MS);
    long r = pthread_mutex_timedlock(a, &ts);
    woke("mutex_timed", r, r);
  }
}
NOIPA void do_cond_wait(void* a) {
  pthread_mutex_lock(&g_cm1);
  for (;;) { long r = pthread_cond_wait(a, &g_cm1); woke("cond", r, r); }
}
NOIPA void do_cond_timedwait(void* a) {
  pthread_mutex_lock(&g_cm2);
  for (;;) {
    struct timespec ts = tp_in(CLOCK_REALTIME, FOREVER_MS);
    long r = pthread_cond_timedwait(a, &g_cm2, &ts);
    woke("cond_timed", r, r);
  }
}
NOIPA void do_cond_clockwait(void* a) {
  pthread_mutex_lock(&g_cm3);
  for (;;) {
    struct timespec ts = tp_in(CLOCK_MONOTONIC, FOREVER_MS);
    long r = pthread_cond_clockwait(a, &g_cm3, CLOCK_MONOTONIC, &ts);
    woke("cond_clock", r, r);
  }
}
NOIPA void do_rwlock_rdlock(void* a) {
  for (;;) { long r = pthread_rwlock_rdlock(a); woke("rwlock_rd", r, r); }
}
NOIPA void do_rwlock_wrlock(void* a) {
  for (;;) { long r = pthread_rwlock_wrlock(a); woke("rwlock_wr", r, r); }
}
NOIPA void do_barrier_wait(void* a) {
  for (;;) { long r = pthread_barrier_wait(a); woke("barrier", r, r); }
}
NOIPA void do_sem_wait(void* a) {
  for (;;) { long r = sem_wait(a); woke("sem", r, errno); }
}
NOIPA void do_sem_timedwait(void* a) {
  for (;;) {
    struct timespec ts = tp_in(CLOCK_REALTIME, FOREVER_MS);
    long r = sem_timedwait(a, &ts);
    woke("sem_timed", r, errno);
  }
}
NOIPA void do_read(void* a) {
  char c;
  for (;;) { long r = read(*(int*)a, &c, 1); woke("pipe_read", r, errno); }
}
NOIPA void do_write(void* a) {
  char c = 'w';
  for (;;) { long r = write(*(int*)a, &c, 1); woke("pipe_write", r, errno); }
}
NOIPA void do_recv(void* a) {
  char c;
  for (;;) { long r = recv(*(int*)a, &c, 1, 0); woke("recv", r, errno); }
}
NOIPA void do_accept(void* a) {
  for (;;) { long r = accept(*(int*)a, NULL, NULL); woke("accept", r, errno); }
}
NOIPA void do_connect(void* a) {
  for (;;) {
    long r = connect(*(int*)a, (struct sockaddr*)&g_full_addr, g_full_len);
    woke("connect", r, errno);
    if (r == 0) pause(); /* never: the backlog stays full */
  }
}
NOIPA void do_poll(void* a) {
  struct pollfd p = {*(int*)a, POLLIN, 0};
  for (;;) { long r = poll(&p, 1, -1); woke("poll", r, errno); }
}
/* poll with no fds: a plain sleep; the dump shows no fd (obj -1). */
NOIPA void do_poll0(void* a) {
  for (;;) { long r = poll(NULL, 0, -1); woke("poll0", r, errno); }
}
NOIPA void do_select(void* a) {
  int fd = *(int*)a;
  for (;;) {
    fd_set s;
    FD_ZERO(&s);
    FD_SET(fd, &s);
    long r = select(fd + 1, &s, NULL, NULL, NULL);
    woke("select", r, errno);
  }
}
NOIPA void do_epoll_wait(void* a) {
  struct epoll_event ev;
  for (;;) { long r = epoll_wait(*(int*)a, &ev, 1, -1); woke("epoll", r, errno); }
}
NOIPA void do_nanosleep(void* a) {
  for (;;) {
    struct timespec ts = {FOREVER_MS / 1000, 0};
    long r = nanosleep(&ts, NULL);
    woke("nanosleep", r, errno);
  }
}
NOIPA void do_clock_nanosleep(void* a) {
  for (;;) {
    struct timespec ts = {FOREVER_MS / 1000, 0};
    long r = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
    woke("clock_nanosleep", r, r);
  }
}
NOIPA void do_sleep(void* a) {
  for (;;) { long r = sleep(FOREVER_MS / 1000); woke("sleep", r, errno); }
}
NOIPA void do_usleep(void* a) {
  for (;;) { long r = usleep(4000000000u); woke("usleep", r, errno); }
}
NOIPA void do_pause(void* a) {
  for (;;) { long r = pause(); woke("pause", r, errno); }
}
NOIPA void do_sigwait(void* a) {
  int sig;
  for (;;) { long r = sigwait(a, &sig); woke("sigwait", r, r); }
}
NOIPA void do_sigtimedwait(void* a) {
  for (;;) {
    struct timespec ts = {FOREVER_MS / 1000, 0};
    long r = sigtimedwait(a, NULL, &ts);
    woke("sigtimedwait", r, errno);
  }
}
NOIPA void do_waitpid(void* a) {
  int st;
  for (;;) { long r = waitpid(*(pid_t*)a, &st, 0); woke("waitpid", r, errno); }
}
NOIPA void do_futex(void* a) {
  for (;;) {
    long r = syscall(SYS_futex, a, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    woke("futex", r, errno);
  }
}
static volatile unsigned long g_spin_count;
NOIPA void do_spin(void* a) {
  for (;;) g_spin_count++;
}

static struct worker g_workers[] = {
  {"pause", do_pause, NULL, "pause", 0, 0, "do_pause"},
  {"join", do_join, &g_pause_thread, "pthread_join", 0, 1, "do_join"},
  {"mutex", do_mutex_lock, &g_m_lock, "pthread_mutex_lock", (uintptr_t)&g_m_lock, 1, "do_mutex_lock"},
  {"mutex_timed", do_mutex_timedlock, &g_m_timed, "pthread_mutex_timedlock", (uintptr_t)&g_m_timed, 1, "do_mutex_timedlock"},
  {"cond", do_cond_wait, &g_cv1, "pthread_cond_wait", (uintptr_t)&g_cv1, 1, "do_cond_wait"},
  {"cond_timed", do_cond_timedwait, &g_cv2, "pthread_cond_timedwait", (uintptr_t)&g_cv2, 1, "do_cond_timedwait"},
  {"cond_clock", do_cond_clockwait, &g_cv3, "pthread_cond_clockwait", (uintptr_t)&g_cv3, 1, "do_cond_clockwait"},
  {"rwlock_rd", do_rwlock_rdlock, &g_rw_wheld, "pthread_rwlock_rdlock", (uintptr_t)&g_rw_wheld, 1, "do_rwlock_rdlock"},
  {"rwlock_wr", do_rwlock_wrlock, &g_rw_rheld, "pthread_rwlock_wrlock", (uintptr_t)&g_rw_rheld, 1, "do_rwlock_wrlock"},
  {"barrier", do_barrier_wait, &g_barrier, "pthread_barrier_wait", (uintptr_t)&g_barrier, 1, "do_barrier_wait"},
  {"sem", do_sem_wait, &g_sem1, "sem_wait", (uintptr_t)&g_sem1, 1, "do_sem_wait"},
  {"sem_timed", do_sem_timedwait, &g_sem2, "sem_timedwait", (uintptr_t)&g_sem2, 1, "do_sem_timedwait"},
  {"pipe_read", do_read, &g_pipe_r[0], "read", 0, 1, "do_read"},
  {"pipe_write", do_write, &g_pipe_w[1], "write", 0, 1, "do_write"},
  {"recv", do_recv, &g_sockpair[0], "recv", 0, 1, "do_recv"},
  {"accept", do_accept, &g_listen_fd, "accept", 0, 1, "do_accept"},
  {"connect", do_connect, &g_connect_fd, "connect", 0, 1, "do_connect"},
  {"poll", do_poll, &g_pipe_poll[0], "poll", 0, 1, "do_poll"},
  {"poll0", do_poll0, NULL, "poll", UINTPTR_MAX, 1, "do_poll0"},
  {"select", do_select, &g_pipe_sel[0], "select", 0, 0, "do_select"},
  {"epoll", do_epoll_wait, &g_epfd, "epoll_wait", 0, 1, "do_epoll_wait"},
  {"nanosleep", do_nanosleep, NULL, "nanosleep", 0, 0, "do_nanosleep"},
  {"clock_nanosleep", do_clock_nanosleep, NULL, "clock_nanosleep", 0, 0, "do_clock_nanosleep"},
  {"sleep", do_sleep, NULL, "sleep", 0, 0, "do_sleep"},
  {"usleep", do_usleep, NULL, "usleep", 0, 0, "do_usleep"},
  {"sigwait", do_sigwait, &g_sigset, "sigwait", 0, 0, "do_sigwait"},
  {"sigtimedwait", do_sigtimedwait, &g_sigset, "sigtimedwait", 0, 0, "do_sigtimedwait"},
  {"waitpid", do_waitpid, &g_child, "waitpid", 0, 1, "do_waitpid"},
  {"futex", do_futex, &g_futex_word, "syscall", (uintptr_t)&g_futex_word, 1, "do_futex"},
  {"spin1", do_spin, NULL, "-", 0, 0, "do_spin"},
  {"spin2", do_spin, NULL, "-", 0, 0, "do_spin"},
};
#define NWORKERS (sizeof g_workers / sizeof g_workers[0])

static sem_t g_started;

NOIPA void* thread_main(void* arg) {
  struct worker* w = arg;
  pthread_setname_np(pthread_self(), w->name);
  w->tid = tp_gettid();
  sem_post(&g_started);
  chain_a(w->op, w->arg);
  TP_TOUCH(1);
  return NULL;
}

static void setup(void) {
  pthread_mutex_lock(&g_m_lock);
  pthread_mutex_lock(&g_m_timed);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&g_cv3, &ca);
  pthread_rwlock_wrlock(&g_rw_wheld);
  pthread_rwlock_rdlock(&g_rw_rheld);
  pthread_barrier_init(&g_barrier, NULL, 2);
  sem_init(&g_sem1, 0, 0);
  sem_init(&g_sem2, 0, 0);
  sem_init(&g_started, 0, 0);
  if (pipe(g_pipe_r) || pipe(g_pipe_w) || pipe(g_pipe_poll) || pipe(g_pipe_sel) || pipe(g_pipe_ep))
    tp_die("pipe");
  /* Fill the write pipe so that one more byte blocks. */
  fcntl(g_pipe_w[1], F_SETFL, O_NONBLOCK);
  char junk[4096];
  memset(junk, 'j', sizeof junk);
  while (write(g_pipe_w[1], junk, sizeof junk) > 0) {}
  while (write(g_pipe_w[1], junk, 1) > 0) {}
  fcntl(g_pipe_w[1], F_SETFL, 0);
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, g_sockpair)) tp_die("socketpair");

  /* A listener nobody connects to (accept blocks). Abstract names: no files. */
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "threadsnap-acc-%d", (int)getpid());
  g_listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (bind(g_listen_fd, (struct sockaddr*)&a, offsetof(struct sockaddr_un, sun_path) + 1 + n) ||
      listen(g_listen_fd, 8))
    tp_die("listen");
  /* A listener with backlog 0 and one pending connection: the next connect
   * blocks (AF_UNIX stream sockets wait for room in the backlog). */
  memset(&g_full_addr, 0, sizeof g_full_addr);
  g_full_addr.sun_family = AF_UNIX;
  n = snprintf(g_full_addr.sun_path + 1, sizeof g_full_addr.sun_path - 1, "threadsnap-full-%d",
               (int)getpid());
  g_full_len = offsetof(struct sockaddr_un, sun_path) + 1 + n;
  int full = socket(AF_UNIX, SOCK_STREAM, 0);
  if (bind(full, (struct sockaddr*)&g_full_addr, g_full_len) || listen(full, 0)) tp_die("listen0");
  int first = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (connect(first, (struct sockaddr*)&g_full_addr, g_full_len)) tp_die("connect first");
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (connect(probe, (struct sockaddr*)&g_full_addr, g_full_len) == 0 || errno != EAGAIN)
    tp_die("backlog is not full");
  close(probe);
  g_connect_fd = socket(AF_UNIX, SOCK_STREAM, 0);

  g_epfd = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data = {.fd = g_pipe_ep[0]}};
  epoll_ctl(g_epfd, EPOLL_CTL_ADD, g_pipe_ep[0], &ev);

  /* sigwait threads wait for SIGUSR1; every thread blocks it (nobody sends it). */
  sigemptyset(&g_sigset);
  sigaddset(&g_sigset, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &g_sigset, NULL);

  /* A child for waitpid that lives until we die. */
  g_child = fork();
  if (g_child < 0) tp_die("fork");
  if (g_child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (;;) pause();
  }
}

static struct worker* find(const char* name) {
  for (size_t i = 0; i < NWORKERS; i++)
    if (strcmp(g_workers[i].name, name) == 0) return &g_workers[i];
  return NULL;
}

/* Wait objects and further fields known only after set-up (fds, the child,
 * the join target, owners). */
static void fill_objects(pid_t main_tid) {
  for (size_t i = 0; i < NWORKERS; i++) {
    struct worker* w = &g_workers[i];
    strcpy(w->extra, "-");
    if (w->op == do_read || w->op == do_write || w->op == do_recv || w->op == do_accept ||
        w->op == do_connect || w->op == do_epoll_wait || w->op == do_poll || w->op == do_select)
      w->obj = (uintptr_t)*(int*)w->arg;
  }
  find("waitpid")->obj = (uintptr_t)g_child;
  find("join")->obj = (uintptr_t)g_pause_thread;
  snprintf(find("join")->extra, sizeof find("join")->extra, "owner=%d", (int)find("pause")->tid);
  /* Main holds these: the dump may name the owner, and it must be main. */
  snprintf(find("mutex")->extra, 96, "owner=%d", (int)main_tid);
  snprintf(find("mutex_timed")->extra, 96, "owner=%d", (int)main_tid);
  snprintf(find("cond")->extra, 96, "mutex=0x%lx", (unsigned long)&g_cm1);
  snprintf(find("cond_timed")->extra, 96, "mutex=0x%lx", (unsigned long)&g_cm2);
  snprintf(find("cond_clock")->extra, 96, "mutex=0x%lx", (unsigned long)&g_cm3);
}

NOIPA void main_wait(void) {
  char buf[256];
  for (;;) {
    ssize_t r = read(0, buf, sizeof buf);
    if (r == 0) break;
    if (r < 0) woke("main", r, errno);
  }
  TP_TOUCH(1);
}

int main(void) {
  setup();
  pthread_setname_np(pthread_self(), "blk-main");
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  for (size_t i = 0; i < NWORKERS; i++) {
    struct worker* w = &g_workers[i];
    if (pthread_create(&w->thread, &attr, thread_main, w)) tp_die("pthread_create");
    if (i == 0) g_pause_thread = w->thread;
  }
  for (size_t i = 0; i < NWORKERS; i++) sem_wait(&g_started);
  fill_objects(tp_gettid());
  for (size_t i = 0; i < NWORKERS; i++) {
    struct worker* w = &g_workers[i];
    int running = strcmp(w->call, "-") == 0;
    char obj[32] = "-";
    if (w->check_obj) snprintf(obj, sizeof obj, "0x%lx", (unsigned long)w->obj);
    tp_line("tid %s %d", w->name, (int)w->tid);
    tp_line("expect %s %d %s %s %s ^%s," TP_CHAIN " %s", w->name, (int)w->tid,
            running ? "running" : "blocked", w->call, obj, w->func, w->extra);
  }
  /* select's wait object is checked by a test of its own (the fd waited on). */
  tp_line("selectfd %d", g_pipe_sel[0]);
  tp_line("tid blk-main %d", (int)tp_gettid());
  tp_line("expect blk-main %d blocked read 0x0 ^main_wait,main", (int)tp_gettid());
  tp_line("ready");
  main_wait();
  kill(g_child, SIGKILL);
  waitpid(g_child, NULL, 0);
  tp_line("bye");
  exit(0);
}
