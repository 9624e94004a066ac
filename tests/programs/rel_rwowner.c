/* rel_rwowner: a rwlock handed from one writer to a waiting one during
 * stop 1. "holder" blocks every signal (so the stop does not hold it: it
 * waits the stop timeout for it) and write-locks the rwlock; "waiter"
 * blocks in pthread_rwlock_wrlock on it. On "go" the holder waits until
 * threadsnap's stop signal is pending for it (stop 1 is under way) and
 * unlocks: the waiter takes the lock while the stop still runs.
 * Prints the tid lines, "ready", then "handed" (holder unlocked) and "got"
 * (waiter has the lock). Commands: "go", "quit". */
#include "rel_util.h"

#include <sched.h>
#include <stdatomic.h>

static pthread_rwlock_t g_rw = PTHREAD_RWLOCK_INITIALIZER;
static atomic_int g_go, g_quit, g_locked, g_waiting;
static int g_stopsig;


static void* holder_main(void* arg) {
  /* The raw system call, which the library does not see: with
   * pthread_sigmask it would know that this thread blocks its stop signal
   * and never send it one (issue 11, item 3); here the signal must come,
   * pending, to time the hand-over inside stop 1. */
  unsigned long long all = ~0ull, old = 0;
  syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, &old, sizeof all);
  rel_register("holder");
  pthread_rwlock_wrlock(&g_rw);
  atomic_store(&g_locked, 1);
  while (!atomic_load(&g_go)) sched_yield();
  for (;;) {
    /* The raw system call: sigpending() does not show threadsnap's stop
     * signal to the program (issue 11, item 3). */
    unsigned long long pending = 0;
    syscall(SYS_rt_sigpending, &pending, sizeof pending);
    if (g_stopsig && ((pending >> (g_stopsig - 1)) & 1)) break;
    sched_yield();
  }
  pthread_rwlock_unlock(&g_rw);
  rel_line("handed");
  while (!atomic_load(&g_quit)) sched_yield();
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, sizeof old);
  return arg;
}

static void* waiter_main(void* arg) {
  rel_register("waiter");
  atomic_store(&g_waiting, 1);
  pthread_rwlock_wrlock(&g_rw);
  rel_line("got");
  pthread_rwlock_unlock(&g_rw);
  return arg;
}

int main(void) {
  rel_register("main");
  g_stopsig = rel_stop_signal();
  if (!g_stopsig) rel_die("no stop signal (run under the library)");
  pthread_t h, w;
  if (pthread_create(&h, NULL, holder_main, NULL) != 0) rel_die("pthread_create");
  while (!atomic_load(&g_locked)) sched_yield();
  if (pthread_create(&w, NULL, waiter_main, NULL) != 0) rel_die("pthread_create");
  while (!atomic_load(&g_waiting)) sched_yield();
  rel_line("ready");
  char cmd[64];
  while (rel_read_cmd(cmd, sizeof cmd)) {
    if (strcmp(cmd, "go") == 0) atomic_store(&g_go, 1);
    else if (strcmp(cmd, "quit") == 0) break;
  }
  atomic_store(&g_go, 1);
  atomic_store(&g_quit, 1);
  pthread_join(w, NULL);
  pthread_join(h, NULL);
  return 0;
}
