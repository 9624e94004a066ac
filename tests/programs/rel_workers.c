/* rel_workers: a small long-running program with the usual kinds of threads,
 * for the fault, storm and configuration tests.
 *
 *   waiter x2   pthread_cond_wait
 *   reader      read() on a pipe nobody writes
 *   spinner     spins (answers the stop signal in its handler)
 *   ping, pong  pass a ball under a mutex and two condvars (busy wrapped calls)
 *   sleeper     nanosleep(1 ms) in a loop, EINTR handled
 *   deep        blocks in pthread_cond_wait under 300 small frames (deep_NNN)
 *   bigframes   blocks in pthread_cond_wait under 100 frames of ~1 KiB each
 *               (prints "bigframe_bytes N", the exact size of one)
 * Prints the tid lines and "ready". Commands on stdin (one per line):
 *   ping      -> "pong BALLS SPINS" (progress counters)
 *   trigger   -> calls threadsnap_trigger(), prints "triggered RC"
 *   exec PATH -> execl(PATH, PATH) from the main thread, the others running
 *   quit */
#include "rel_util.h"

#include <stdatomic.h>

static atomic_int g_quit;
static atomic_long g_balls, g_spins, g_sleeps;
static atomic_int g_parked;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;

static void park(void) {
  pthread_mutex_lock(&g_mu);
  atomic_fetch_add(&g_parked, 1);
  while (!atomic_load(&g_quit)) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
}

static void* waiter_main(void* arg) {
  rel_register("waiter");
  park();
  return arg;
}

static int g_pipe[2];
static void* reader_main(void* arg) {
  rel_register("reader");
  atomic_fetch_add(&g_parked, 1);
  char c;
  while (read(g_pipe[0], &c, 1) < 0 && errno == EINTR) {
  }
  return arg;
}

static void* spinner_main(void* arg) {
  rel_register("spinner");
  atomic_fetch_add(&g_parked, 1);
  while (!atomic_load(&g_quit)) atomic_fetch_add(&g_spins, 1);
  return arg;
}

static pthread_mutex_t g_ball_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_ball_cv[2] = {PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER};
static int g_ball_side;

static void* player_main(void* arg) {
  int me = (int)(intptr_t)arg;
  rel_register(me ? "pong" : "ping");
  atomic_fetch_add(&g_parked, 1);
  pthread_mutex_lock(&g_ball_mu);
  while (!atomic_load(&g_quit)) {
    while (g_ball_side != me && !atomic_load(&g_quit)) pthread_cond_wait(&g_ball_cv[me], &g_ball_mu);
    g_ball_side = !me;
    atomic_fetch_add(&g_balls, 1);
    pthread_cond_signal(&g_ball_cv[!me]);
  }
  pthread_cond_signal(&g_ball_cv[!me]);
  pthread_mutex_unlock(&g_ball_mu);
  return NULL;
}

static void* sleeper_main(void* arg) {
  rel_register("sleeper");
  atomic_fetch_add(&g_parked, 1);
  while (!atomic_load(&g_quit)) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL); /* EINTR is fine: loop */
    atomic_fetch_add(&g_sleeps, 1);
  }
  return arg;
}

static volatile long g_sink;

REL_NOIPA static void deep(int n) {
  if (n == 0) park();
  else deep(n - 1);
  g_sink = g_sink + 1; /* not a tail call */
}

static void* deep_main(void* arg) {
  rel_register("deep");
  deep(300);
  return arg;
}

static uintptr_t g_bigframe_fa[2];

/* Prints "bigframe_bytes N" (the stack one level takes, which depends on
 * the compiler and sanitizers) once, from levels 100 and 99. */
REL_NOIPA static void bigframe(int n) {
  volatile char pad[1000];
  pad[0] = (char)n;
  if (n >= 99) g_bigframe_fa[100 - n] = (uintptr_t)__builtin_frame_address(0);
  if (n == 98) rel_line("bigframe_bytes %ld", (long)(g_bigframe_fa[0] - g_bigframe_fa[1]));
  if (n == 0) park();
  else bigframe(n - 1);
  g_sink = g_sink + pad[0];
}

static void* bigframes_main(void* arg) {
  rel_register("bigframes");
  bigframe(100);
  return arg;
}

int main(void) {
  rel_register("main");
  if (pipe(g_pipe) != 0) rel_die("pipe");
  void* (*fns[])(void*) = {waiter_main, waiter_main, reader_main, spinner_main,
                           player_main, player_main, sleeper_main, deep_main, bigframes_main};
  enum { kThreads = sizeof fns / sizeof fns[0] };
  pthread_t t[kThreads];
  for (int i = 0; i < kThreads; i++) {
    void* arg = fns[i] == player_main ? (void*)(intptr_t)(i == 5) : NULL;
    if (pthread_create(&t[i], NULL, fns[i], arg) != 0) rel_die("pthread_create");
  }
  while (atomic_load(&g_parked) < kThreads) rel_sleep_ms(1);
  rel_line("ready");
  char cmd[128];
  while (rel_read_cmd(cmd, sizeof cmd)) {
    if (strcmp(cmd, "ping") == 0)
      rel_line("pong %ld %ld", atomic_load(&g_balls), atomic_load(&g_spins));
    else if (strcmp(cmd, "trigger") == 0)
      rel_line("triggered %d", rel_trigger());
    else if (strncmp(cmd, "exec ", 5) == 0) {
      execl(cmd + 5, cmd + 5, (char*)NULL);
      rel_die("execl");
    } else if (strcmp(cmd, "quit") == 0)
      break;
  }
  atomic_store(&g_quit, 1);
  pthread_mutex_lock(&g_mu);
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  pthread_mutex_lock(&g_ball_mu);
  pthread_cond_broadcast(&g_ball_cv[0]);
  pthread_cond_broadcast(&g_ball_cv[1]);
  pthread_mutex_unlock(&g_ball_mu);
  close(g_pipe[1]);
  for (int i = 0; i < kThreads; i++) pthread_join(t[i], NULL);
  rel_line("bye");
  return 0;
}
