/* rel_exit_sweep: threads that call pthread_exit while a dump sweeps.
 *
 *   rel_exit_sweep
 *
 * Threads, besides main:
 *   exiter x4   blocked in pthread_cond_wait; on "go" they wake and call
 *               pthread_exit at once
 *   runner x2   spinning; on "go" they call pthread_exit
 *   spinmask    spins with every signal blocked: with a short
 *               THREADSNAP_STOP_TIMEOUT_MS it makes stop 1 last that long,
 *               which lets the test see from /proc when stop 1 ends
 *   stayer      spinning, never exits (the test watches it in /proc)
 * Commands on stdin:
 *   go       release exiters and runners, join them, print "joined"
 *   respawn  start a new set of exiters and runners (tid lines, "ready")
 *   quit */
#include "rel_util.h"

#include <stdatomic.h>

#define EXITERS 4
#define RUNNERS 2

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_go;              /* under g_mu */
static atomic_int g_run_go, g_quit, g_parked;

static void* exiter_main(void* arg) {
  rel_register("exiter");
  pthread_mutex_lock(&g_mu);
  atomic_fetch_add(&g_parked, 1);
  while (!g_go) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
  pthread_exit(arg);
}

static void* runner_main(void* arg) {
  rel_register("runner");
  atomic_fetch_add(&g_parked, 1);
  while (!atomic_load(&g_run_go)) {
  }
  pthread_exit(arg);
}

static void* spinmask_main(void* arg) {
  rel_raw_sigmask(SIG_BLOCK, ~0ull, NULL);  /* unseen by the library: the stop waits */
  rel_register("spinmask");
  atomic_fetch_add(&g_parked, 1);
  while (!atomic_load(&g_quit)) {
  }
  return arg;
}

static void* stayer_main(void* arg) {
  rel_register("stayer");
  atomic_fetch_add(&g_parked, 1);
  while (!atomic_load(&g_quit)) {
  }
  return arg;
}

static pthread_t g_batch[EXITERS + RUNNERS];

static void spawn_batch(void) {
  atomic_store(&g_parked, 0);
  pthread_mutex_lock(&g_mu);
  g_go = 0;
  pthread_mutex_unlock(&g_mu);
  atomic_store(&g_run_go, 0);
  for (int i = 0; i < EXITERS + RUNNERS; i++)
    if (pthread_create(&g_batch[i], NULL, i < EXITERS ? exiter_main : runner_main, NULL) != 0)
      rel_die("pthread_create");
  while (atomic_load(&g_parked) < EXITERS + RUNNERS) rel_sleep_ms(1);
  rel_sleep_ms(2); /* the exiters are inside pthread_cond_wait by now or soon */
  rel_line("ready");
}

int main(void) {
  rel_register("main");
  pthread_t fixed[2];
  pthread_create(&fixed[0], NULL, spinmask_main, NULL);
  pthread_create(&fixed[1], NULL, stayer_main, NULL);
  while (atomic_load(&g_parked) < 2) rel_sleep_ms(1);
  spawn_batch();
  char cmd[64];
  while (rel_read_cmd(cmd, sizeof cmd)) {
    if (strcmp(cmd, "go") == 0) {
      pthread_mutex_lock(&g_mu);
      g_go = 1;
      pthread_cond_broadcast(&g_cv);
      pthread_mutex_unlock(&g_mu);
      atomic_store(&g_run_go, 1);
      for (int i = 0; i < EXITERS + RUNNERS; i++) pthread_join(g_batch[i], NULL);
      rel_line("joined");
    } else if (strcmp(cmd, "respawn") == 0) {
      spawn_batch();
    } else if (strcmp(cmd, "quit") == 0) {
      break;
    }
  }
  atomic_store(&g_quit, 1);
  pthread_join(fixed[0], NULL);
  pthread_join(fixed[1], NULL);
  return 0;
}
