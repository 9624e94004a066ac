/* rel_sigtake: a thread that takes threadsnap's stop signal itself.
 *
 *   taker   blocks the stop signal with a raw rt_sigprocmask and waits for
 *           it with a raw rt_sigtimedwait (no wrapper sees either: to the
 *           library it is running), and each time it took one sleeps 30 ms
 *           in nanosleep (a wrapped call, entered after the stop began)
 * When stop 1 signals the taker, the signal ends up blocked and no longer
 * pending, as in a thread that was delivered it and sits in our handler,
 * but the taker never ran the handler: the call it makes next is not its
 * state at the cut (issue 13, the frozen verdict).
 * Prints "stopsig N", the tid lines and "ready". Commands on stdin:
 *   taken -> "taken N" (stop signals the taker took)
 *   quit */
#include "rel_util.h"

#include <stdatomic.h>
#include <time.h>

static atomic_long g_taken;
static atomic_int g_quit, g_registered;
static int g_stopsig;

static void* taker_main(void* arg) {
  unsigned long long set = 1ull << (g_stopsig - 1);
  rel_raw_sigmask(SIG_BLOCK, set, NULL);
  rel_register("taker");
  atomic_fetch_add(&g_registered, 1);
  while (!atomic_load(&g_quit)) {
    struct timespec wait = {0, 100 * 1000 * 1000};
    long sig = syscall(SYS_rt_sigtimedwait, &set, NULL, &wait, sizeof set);
    if (sig == g_stopsig) {
      atomic_fetch_add(&g_taken, 1);
      struct timespec nap = {0, 30 * 1000 * 1000};
      nanosleep(&nap, NULL);
    }
  }
  return arg;
}

int main(void) {
  rel_register("main");
  g_stopsig = rel_stop_signal();
  rel_line("stopsig %d", g_stopsig);
  if (!g_stopsig) rel_die("no stop signal");
  pthread_t taker;
  if (pthread_create(&taker, NULL, taker_main, NULL) != 0) rel_die("pthread_create");
  while (!atomic_load(&g_registered)) sched_yield();
  rel_sleep_ms(2); /* in its wait by now */
  rel_line("ready");
  char cmd[128];
  while (rel_read_cmd(cmd, sizeof cmd)) {
    if (strcmp(cmd, "taken") == 0)
      rel_line("taken %ld", atomic_load(&g_taken));
    else if (strcmp(cmd, "quit") == 0)
      break;
  }
  atomic_store(&g_quit, 1);
  pthread_join(taker, NULL); /* its wait ends within 100 ms */
  return 0;
}
