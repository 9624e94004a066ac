/* rel_blocksig: threads that do not answer the stop signal.
 *
 *   maskstop  blocks only threadsnap's stop signal (found as the real-time
 *             signal with an SA_SIGINFO handler this program did not install)
 *             and keeps running (a counter and sched_yield)
 *   spinmask  blocks every signal and spins
 *   spinner   spins with no signal blocked (answers normally)
 *   waiter    blocked in pthread_cond_wait
 * Prints "stopsig N", the tid lines and "ready". Commands on stdin:
 *   progress  -> "progress MASKSTOP SPINMASK SPINNER" (loop counters)
 *   unblock   -> both masking threads unblock their signals; each prints
 *                "unblocked NAME" once it has
 *   quit */
#include "rel_util.h"

#include <sched.h>
#include <stdatomic.h>

static atomic_long g_count[3];
static atomic_int g_unblock, g_quit, g_registered;
static int g_stopsig;

static void* maskstop_main(void* arg) {
  sigset_t s;
  sigemptyset(&s);
  if (g_stopsig) sigaddset(&s, g_stopsig);
  pthread_sigmask(SIG_BLOCK, &s, NULL);
  rel_register("maskstop");
  atomic_fetch_add(&g_registered, 1);
  while (!atomic_load(&g_unblock)) {
    atomic_fetch_add(&g_count[0], 1);
    sched_yield();
  }
  pthread_sigmask(SIG_UNBLOCK, &s, NULL);
  rel_line("unblocked maskstop");
  while (!atomic_load(&g_quit)) {
    atomic_fetch_add(&g_count[0], 1);
    sched_yield();
  }
  return arg;
}

/* The raw system call: the library does not see this mask, sends the stop
 * signal and must time out (maskstop's pthread_sigmask it does see). */
static void* spinmask_main(void* arg) {
  unsigned long long old = 0;
  rel_raw_sigmask(SIG_BLOCK, ~0ull, &old);
  rel_register("spinmask");
  atomic_fetch_add(&g_registered, 1);
  while (!atomic_load(&g_unblock)) atomic_fetch_add(&g_count[1], 1);
  rel_raw_sigmask(SIG_SETMASK, old, NULL);
  rel_line("unblocked spinmask");
  while (!atomic_load(&g_quit)) atomic_fetch_add(&g_count[1], 1);
  return arg;
}

static void* spinner_main(void* arg) {
  rel_register("spinner");
  atomic_fetch_add(&g_registered, 1);
  while (!atomic_load(&g_quit)) atomic_fetch_add(&g_count[2], 1);
  return arg;
}

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;

static void* waiter_main(void* arg) {
  rel_register("waiter");
  atomic_fetch_add(&g_registered, 1);
  pthread_mutex_lock(&g_mu);
  while (!atomic_load(&g_quit)) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
  return arg;
}

int main(void) {
  rel_register("main");
  g_stopsig = rel_stop_signal();
  rel_line("stopsig %d", g_stopsig);
  void* (*fns[])(void*) = {maskstop_main, spinmask_main, spinner_main, waiter_main};
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    if (pthread_create(&t[i], NULL, fns[i], NULL) != 0) rel_die("pthread_create");
  /* "ready" once every thread has printed its tid and set its mask. */
  while (atomic_load(&g_registered) < 4 || atomic_load(&g_count[0]) == 0 ||
         atomic_load(&g_count[1]) == 0 || atomic_load(&g_count[2]) == 0)
    sched_yield();
  rel_sleep_ms(2); /* the waiter is inside pthread_cond_wait by now */
  rel_line("ready");
  char cmd[128];
  while (rel_read_cmd(cmd, sizeof cmd)) {
    if (strcmp(cmd, "progress") == 0)
      rel_line("progress %ld %ld %ld", atomic_load(&g_count[0]), atomic_load(&g_count[1]),
               atomic_load(&g_count[2]));
    else if (strcmp(cmd, "unblock") == 0)
      atomic_store(&g_unblock, 1);
    else if (strcmp(cmd, "quit") == 0)
      break;
  }
  atomic_store(&g_unblock, 1);
  atomic_store(&g_quit, 1);
  pthread_mutex_lock(&g_mu);
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  return 0;
}
