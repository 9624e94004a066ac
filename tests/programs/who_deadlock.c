/* Real deadlocks for the wait-for graph (issue 7, "Who holds what").
 *
 *   who_deadlock abba     dl-a holds m0 and locks m1, dl-b holds m1 and locks m0;
 *                         "behind" locks m0 too (waits behind the deadlock)
 *   who_deadlock cycle3   dl-a/dl-b/dl-c: each holds m[i] and locks m[(i+1)%3]
 *   who_deadlock join     jn-a joins jn-b and jn-b joins jn-a
 *   who_deadlock self     self-default relocks a PTHREAD_MUTEX_INITIALIZER mutex,
 *                         self-normal a PTHREAD_MUTEX_NORMAL one (both block forever)
 *
 * Prints "tid NAME TID", "mutex NAME 0xADDR" (NAME: the thread that holds it),
 * "pthread NAME 0xVALUE" (join mode), then "ready" once every thread has
 * taken what it holds and is about to make its last, blocking call. The main
 * thread then waits in pause() until it is killed.
 */
#include "testprog.h"

#include <signal.h>

#define MAXT 3
static const char* g_mode;
static int g_n;                              /* threads in the cycle */
static pthread_mutex_t g_m[MAXT] = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
                                    PTHREAD_MUTEX_INITIALIZER};
static pthread_mutex_t g_self_default = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_self_normal;
static pthread_t g_th[MAXT];
static pthread_barrier_t g_bar;
static const char* const kNames[MAXT] = {"dl-a", "dl-b", "dl-c"};
static const char* const kJoinNames[2] = {"jn-a", "jn-b"};

/* The final, blocking calls: each in its own function so stacks show it. */
NOIPA void lock_next(pthread_mutex_t* m) {
  int rc = pthread_mutex_lock(m);
  tp_line("fatal lock returned %d", rc);   /* never: it is a deadlock */
  _exit(3);
}
NOIPA void join_peer(pthread_t t) {
  int rc = pthread_join(t, NULL);
  tp_line("fatal join returned %d", rc);
  _exit(3);
}

NOIPA void* cycle_main(void* arg) {
  int i = (int)(intptr_t)arg;
  tp_register(kNames[i]);
  pthread_mutex_lock(&g_m[i]);
  tp_line("mutex %s 0x%lx", kNames[i], (unsigned long)&g_m[i]);
  pthread_barrier_wait(&g_bar);             /* everyone holds its own mutex */
  lock_next(&g_m[(i + 1) % g_n]);
  return NULL;
}

NOIPA void* behind_main(void* arg) {
  tp_register("behind");
  pthread_barrier_wait(&g_bar);
  lock_next(&g_m[0]);
  return NULL;
}

/* glibc versions with the self->joinid check in pthread_join (e.g. 2.27)
 * return EDEADLK when the target is already joining the caller, unless the
 * target has a cancellation request pending; the glibc of Debian 12 here
 * (2.36-9+deb12u14) lets both block anyway. So that
 * both block on either, each joiner disables cancellation and main cancels
 * both before they join: the request never acts (cancellation stays
 * disabled). */
NOIPA void* join_main(void* arg) {
  int i = (int)(intptr_t)arg;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
  tp_register(kJoinNames[i]);
  pthread_barrier_wait(&g_bar);             /* both created, cancellation disabled */
  pthread_barrier_wait(&g_bar);             /* main has cancelled both */
  join_peer(g_th[1 - i]);
  return NULL;
}

NOIPA void* self_main(void* arg) {
  pthread_mutex_t* m = arg;
  const char* name = m == &g_self_default ? "self-default" : "self-normal";
  tp_register(name);
  pthread_mutex_lock(m);
  tp_line("mutex %s 0x%lx", name, (unsigned long)m);
  pthread_barrier_wait(&g_bar);
  lock_next(m);                             /* relock: blocks forever */
  return NULL;
}

static void start(void* (*fn)(void*), void* arg, pthread_t* out) {
  pthread_t t;
  if (pthread_create(&t, NULL, fn, arg)) tp_die("pthread_create");
  if (out) *out = t;
}

int main(int argc, char** argv) {
  g_mode = argc > 1 ? argv[1] : "abba";
  pthread_setname_np(pthread_self(), "who-main");
  tp_line("tid who-main %d", (int)tp_gettid());
  if (!strcmp(g_mode, "abba") || !strcmp(g_mode, "cycle3")) {
    g_n = g_mode[0] == 'a' ? 2 : 3;
    int behind = g_n == 2;
    pthread_barrier_init(&g_bar, NULL, (unsigned)(g_n + behind + 1));
    for (int i = 0; i < g_n; i++) start(cycle_main, (void*)(intptr_t)i, &g_th[i]);
    if (behind) start(behind_main, NULL, NULL);
    pthread_barrier_wait(&g_bar);
  } else if (!strcmp(g_mode, "join")) {
    pthread_barrier_init(&g_bar, NULL, 3);
    for (int i = 0; i < 2; i++) start(join_main, (void*)(intptr_t)i, &g_th[i]);
    for (int i = 0; i < 2; i++) tp_line("pthread %s 0x%lx", kJoinNames[i], (unsigned long)g_th[i]);
    pthread_barrier_wait(&g_bar);
    for (int i = 0; i < 2; i++)
      if (pthread_cancel(g_th[i])) tp_die("pthread_cancel");
    pthread_barrier_wait(&g_bar);
  } else if (!strcmp(g_mode, "self")) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_NORMAL);
    pthread_mutex_init(&g_self_normal, &a);
    pthread_barrier_init(&g_bar, NULL, 3);
    start(self_main, &g_self_default, NULL);
    start(self_main, &g_self_normal, NULL);
    pthread_barrier_wait(&g_bar);
  } else {
    fprintf(stderr, "usage: who_deadlock abba|cycle3|join|self\n");
    return 2;
  }
  tp_line("ready");
  for (;;) pause();
}
