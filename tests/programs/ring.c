/* A token ring under one mutex: N threads (argv[1], default 16) named r0..rN-1;
 *   lock; for (;;) { while (token % N != me) cond_wait; hold ~HOLD_US (spin,
 *   mutex held); token++; broadcast; }
 * At any instant at most one ring thread is outside pthread_cond_wait (the
 * one holding the mutex), so a consistent snapshot shows at most one ring
 * thread that is not state=blocked call=pthread_cond_wait.
 * Prints "tid rI TID" lines and "ready"; on a line "?" on stdin prints
 * "token N"; EOF ends it. */
#include "testprog.h"

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static long g_token;
static int g_n = 16;
static long g_hold_us = 100;
static int g_started;
static pid_t g_tids[256];

NOIPA void ring_wait(long me) {
  while (g_token % g_n != me) pthread_cond_wait(&g_cv, &g_mu);
  TP_TOUCH(1);
}

NOIPA void hold_token(void) {
  uint64_t until = tp_now_ns() + (uint64_t)g_hold_us * 1000;
  while (tp_now_ns() < until) TP_TOUCH(1);
}

NOIPA void* thread_main(void* arg) {
  long me = (long)arg;
  char name[16];
  snprintf(name, sizeof name, "r%ld", me);
  pthread_setname_np(pthread_self(), name);
  pthread_mutex_lock(&g_mu);
  g_tids[me] = tp_gettid();
  g_started++;
  for (;;) {
    ring_wait(me);
    hold_token();
    g_token++;
    pthread_cond_broadcast(&g_cv);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc > 1) g_n = atoi(argv[1]);
  if (argc > 2) g_hold_us = atol(argv[2]);
  if (g_n < 2 || g_n > 256) return 2;
  pthread_setname_np(pthread_self(), "ring-main");
  for (long i = 0; i < g_n; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, (void*)i)) tp_die("pthread_create");
  }
  for (;;) {
    pthread_mutex_lock(&g_mu);
    int s = g_started;
    pthread_mutex_unlock(&g_mu);
    if (s == g_n) break;
    usleep(1000);
  }
  for (int i = 0; i < g_n; i++) tp_line("tid r%d %d", i, (int)g_tids[i]);
  tp_line("tid ring-main %d", (int)tp_gettid());
  tp_line("ready");
  char buf[256];
  ssize_t r;
  while ((r = read(0, buf, sizeof buf)) != 0) {
    if (r < 0) continue;
    for (ssize_t i = 0; i < r; i++)
      if (buf[i] == '?') tp_line("token %ld", __atomic_load_n(&g_token, __ATOMIC_RELAXED));
  }
  return 0;
}
