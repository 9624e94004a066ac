/* rel_smallstack: threads with 16 KiB stacks (PTHREAD_STACK_MIN) under dumps.
 *
 *   rel_smallstack
 *
 * Every thread below is created with a 16 KiB stack; pthread_create must
 * succeed exactly as without the library:
 *   small-wait x2  pthread_cond_wait          small-read  read() on a pipe
 *   small-spin x2  spinning, 4 KiB of its stack in use (answers in its handler)
 *   small-churn    creates 16 KiB-stack threads that exit at once, in a loop
 * Prints "stack N" (the size used), the tid lines and "ready". Commands:
 *   ping  -> "pong SPINS CHURNED CREATE_FAILURES"
 *   quit */
#include "rel_util.h"

#include <limits.h>
#include <stdatomic.h>

static atomic_int g_quit, g_parked, g_create_failures;
static atomic_long g_spins, g_churned;
static pthread_attr_t g_attr;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_pipe[2];
static volatile long g_sink;

static void* wait_main(void* arg) {
  rel_register("small-wait");
  pthread_mutex_lock(&g_mu);
  atomic_fetch_add(&g_parked, 1);
  while (!atomic_load(&g_quit)) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
  return arg;
}

static void* read_main(void* arg) {
  rel_register("small-read");
  atomic_fetch_add(&g_parked, 1);
  char c;
  while (read(g_pipe[0], &c, 1) < 0 && errno == EINTR) {
  }
  return arg;
}

REL_NOIPA static void spin_with_stack_in_use(void) {
  volatile char used[4096];
  used[0] = 1;
  used[sizeof used - 1] = 1;
  while (!atomic_load(&g_quit)) atomic_fetch_add(&g_spins, 1);
  g_sink = g_sink + used[0];
}

static void* spin_main(void* arg) {
  rel_register("small-spin");
  atomic_fetch_add(&g_parked, 1);
  spin_with_stack_in_use();
  return arg;
}

static void* nothing(void* arg) { return arg; }

static void* churn_main(void* arg) {
  rel_register("small-churn");
  atomic_fetch_add(&g_parked, 1);
  while (!atomic_load(&g_quit)) {
    pthread_t t;
    int rc = pthread_create(&t, &g_attr, nothing, NULL);
    if (rc != 0) {
      if (atomic_fetch_add(&g_create_failures, 1) == 0) rel_line("FAIL churn pthread_create rc=%d", rc);
      rel_sleep_ms(1);
      continue;
    }
    pthread_join(t, NULL);
    atomic_fetch_add(&g_churned, 1);
  }
  return arg;
}

int main(void) {
  rel_register("main");
  if (pipe(g_pipe) != 0) rel_die("pipe");
  size_t size = PTHREAD_STACK_MIN > 16384 ? PTHREAD_STACK_MIN : 16384;
  pthread_attr_init(&g_attr);
  if (pthread_attr_setstacksize(&g_attr, size) != 0) rel_die("setstacksize");
  rel_line("stack %zu", size);
  void* (*fns[])(void*) = {wait_main, wait_main, read_main, spin_main, spin_main, churn_main};
  enum { kThreads = sizeof fns / sizeof fns[0] };
  pthread_t t[kThreads];
  for (int i = 0; i < kThreads; i++) {
    int rc = pthread_create(&t[i], &g_attr, fns[i], NULL);
    if (rc != 0) {
      rel_line("FAIL pthread_create with a %zu-byte stack: rc=%d", size, rc);
      return 1;
    }
  }
  while (atomic_load(&g_parked) < kThreads) rel_sleep_ms(1);
  rel_line("ready");
  char cmd[64];
  while (rel_read_cmd(cmd, sizeof cmd)) {
    if (strcmp(cmd, "ping") == 0)
      rel_line("pong %ld %ld %d", atomic_load(&g_spins), atomic_load(&g_churned),
               atomic_load(&g_create_failures));
    else if (strcmp(cmd, "quit") == 0)
      break;
  }
  atomic_store(&g_quit, 1);
  pthread_mutex_lock(&g_mu);
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  close(g_pipe[1]);
  for (int i = 0; i < kThreads; i++) pthread_join(t[i], NULL);
  rel_line("bye");
  return atomic_load(&g_create_failures) ? 1 : 0;
}
