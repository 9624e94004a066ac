/* A lock pile-up (issue 7, "Who holds what"): pile-holder takes one mutex and
 * then waits forever in read() on a pipe nobody writes; N threads (argv[1],
 * default 50) named pile-1 .. pile-N lock that mutex, all from the same call
 * chain, and block. Prints "tid NAME TID" for every thread, "mutex pile
 * 0xADDR", "fd pipe N", then "ready" when every waiter is about to lock.
 */
#include "testprog.h"

#include <signal.h>

static pthread_mutex_t g_pile = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t g_bar;
static int g_pipe[2];

NOIPA void hold_and_wait(void) {
  char c;
  pthread_mutex_lock(&g_pile);
  pthread_barrier_wait(&g_bar);
  while (read(g_pipe[0], &c, 1) != 0) {}
  tp_line("fatal pile-holder's read returned");
  _exit(3);
}
NOIPA void* holder_main(void* arg) {
  tp_register("pile-holder");
  hold_and_wait();
  return NULL;
}

NOIPA void pile_on(void) {
  int rc = pthread_mutex_lock(&g_pile);
  tp_line("fatal a waiter got the mutex: %d", rc);
  _exit(3);
}
NOIPA void* waiter_main(void* arg) {
  char name[16];
  snprintf(name, sizeof name, "pile-%d", (int)(intptr_t)arg);
  tp_register(name);
  pthread_barrier_wait(&g_bar);
  pile_on();
  return NULL;
}

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 50;
  if (n < 1 || n > 1000) return 2;
  pthread_setname_np(pthread_self(), "who-main");
  if (pipe(g_pipe)) tp_die("pipe");
  tp_line("mutex pile 0x%lx", (unsigned long)&g_pile);
  tp_line("fd pipe %d", g_pipe[0]);
  pthread_barrier_init(&g_bar, NULL, (unsigned)n + 2);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t t;
  if (pthread_create(&t, &attr, holder_main, NULL)) tp_die("pthread_create");
  for (int i = 1; i <= n; i++)
    if (pthread_create(&t, &attr, waiter_main, (void*)(intptr_t)i)) tp_die("pthread_create");
  pthread_barrier_wait(&g_bar);
  tp_line("ready");
  for (;;) pause();
}
