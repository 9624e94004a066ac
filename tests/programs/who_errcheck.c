/* An error-checking mutex relocked by its owner (issue 7, "Who holds what").
 *
 * The issue asks for "a self-deadlock on an error-checking mutex", but such a
 * relock cannot block: glibc returns EDEADLK at once. So what is tested is
 * that the library returns exactly that, and that a dump never reports the
 * thread as deadlocked with itself (it is not blocked).
 *
 *   who_errcheck once   ec-holder locks an errorcheck mutex, then prints the
 *                       results of: relocking it with pthread_mutex_lock,
 *                       pthread_mutex_timedlock and pthread_mutex_trylock,
 *                       unlocking it, and unlocking it again. Exits 0.
 *   who_errcheck loop   ec-holder locks the mutex and relocks it with lock and
 *                       timedlock in a loop forever; any result but EDEADLK
 *                       prints "fatal ..." and exits 3. ec-waiter locks the
 *                       same mutex (blocks, owned by ec-holder). Prints
 *                       "tid NAME TID", "mutex ec 0xADDR", "ready".
 */
#include "testprog.h"

#include <signal.h>

static pthread_mutex_t g_ec;
static pthread_barrier_t g_bar;
static volatile unsigned long g_relocks;

static const char* err_name(int rc) {
  switch (rc) {
    case 0: return "0";
    case EDEADLK: return "EDEADLK";
    case EBUSY: return "EBUSY";
    case EPERM: return "EPERM";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EINVAL: return "EINVAL";
    default: return "other";
  }
}

NOIPA void* once_main(void* arg) {
  tp_register("ec-holder");
  if (pthread_mutex_lock(&g_ec)) tp_die("first lock");
  struct timespec ts = tp_in(CLOCK_REALTIME, 2000);
  int l = pthread_mutex_lock(&g_ec);
  int t = pthread_mutex_timedlock(&g_ec, &ts);
  int y = pthread_mutex_trylock(&g_ec);
  int u1 = pthread_mutex_unlock(&g_ec);
  int u2 = pthread_mutex_unlock(&g_ec);
  tp_line("result lock=%d/%s timedlock=%d/%s trylock=%d/%s unlock=%d/%s unlock-again=%d/%s",
          l, err_name(l), t, err_name(t), y, err_name(y), u1, err_name(u1), u2, err_name(u2));
  return NULL;
}

NOIPA int relock(int timed) {
  if (!timed) return pthread_mutex_lock(&g_ec);
  struct timespec ts = tp_in(CLOCK_REALTIME, 2000);
  return pthread_mutex_timedlock(&g_ec, &ts);
}

NOIPA void* loop_main(void* arg) {
  tp_register("ec-holder");
  if (pthread_mutex_lock(&g_ec)) tp_die("first lock");
  pthread_barrier_wait(&g_bar);
  for (unsigned long i = 0;; i++) {
    int rc = relock(i & 1);
    if (rc != EDEADLK) {
      tp_line("fatal relock %lu (%s) returned %d/%s", i, i & 1 ? "timedlock" : "lock", rc, err_name(rc));
      _exit(3);
    }
    g_relocks = i + 1;
  }
  return NULL;
}

NOIPA void wait_for_ec(void) {
  int rc = pthread_mutex_lock(&g_ec);
  tp_line("fatal ec-waiter got the mutex: %d", rc);
  _exit(3);
}

NOIPA void* waiter_main(void* arg) {
  tp_register("ec-waiter");
  pthread_barrier_wait(&g_bar);            /* ec-holder holds the mutex */
  wait_for_ec();
  return NULL;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "once";
  pthread_setname_np(pthread_self(), "who-main");
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_init(&g_ec, &a);
  pthread_t t;
  if (!strcmp(mode, "once")) {
    if (pthread_create(&t, NULL, once_main, NULL)) tp_die("pthread_create");
    pthread_join(t, NULL);
    return 0;
  }
  if (strcmp(mode, "loop")) {
    fprintf(stderr, "usage: who_errcheck once|loop\n");
    return 2;
  }
  tp_line("mutex ec 0x%lx", (unsigned long)&g_ec);
  pthread_barrier_init(&g_bar, NULL, 3);
  if (pthread_create(&t, NULL, loop_main, NULL)) tp_die("pthread_create");
  if (pthread_create(&t, NULL, waiter_main, NULL)) tp_die("pthread_create");
  pthread_barrier_wait(&g_bar);
  tp_line("ready");
  for (;;) pause();
}
