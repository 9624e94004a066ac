/* A binary bound to the old condition-variable ABI (pthread_cond_*@GLIBC_2.2.5,
 * which keeps a pointer to a heap-allocated new-style condvar in the first
 * word). A wrapper that forwards these calls to the new ABI crashes or hangs.
 *
 * Prints "pingpong ok" after 2000 signal/wait handshakes, "timedwait N"
 * (ETIMEDOUT expected), then the expect lines and "ready" with one thread
 * ("oldwait") blocked in the old pthread_cond_wait. On EOF on stdin, main
 * wakes it with the old pthread_cond_signal, joins it, prints "done" and
 * exits 0. */
#include "testprog.h"

__asm__(".symver pthread_cond_init,pthread_cond_init@GLIBC_2.2.5");
__asm__(".symver pthread_cond_destroy,pthread_cond_destroy@GLIBC_2.2.5");
__asm__(".symver pthread_cond_wait,pthread_cond_wait@GLIBC_2.2.5");
__asm__(".symver pthread_cond_timedwait,pthread_cond_timedwait@GLIBC_2.2.5");
__asm__(".symver pthread_cond_signal,pthread_cond_signal@GLIBC_2.2.5");
__asm__(".symver pthread_cond_broadcast,pthread_cond_broadcast@GLIBC_2.2.5");

#define ROUNDS 2000

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_ping, g_pong, g_wait;
static int g_turn;      /* 0: main's turn, 1: pong's turn */
static int g_round;
static int g_release;   /* tells oldwait to leave */
static int g_waiting;   /* oldwait is inside its wait loop */
static pid_t g_waiter_tid;

NOIPA void do_pong(void* a) {
  pthread_mutex_lock(&g_mu);
  for (int i = 0; i < ROUNDS; i++) {
    while (g_turn != 1) pthread_cond_wait(&g_pong, &g_mu);
    g_round++;
    g_turn = 0;
    pthread_cond_signal(&g_ping);
  }
  pthread_mutex_unlock(&g_mu);
}

NOIPA void do_old_wait(void* a) {
  pthread_mutex_lock(&g_mu);
  g_waiter_tid = tp_gettid();
  g_waiting = 1;
  pthread_cond_broadcast(&g_ping);
  while (!g_release) pthread_cond_wait(&g_wait, &g_mu);
  pthread_mutex_unlock(&g_mu);
}

NOIPA void* thread_main(void* arg) {
  pthread_setname_np(pthread_self(), (const char*)arg);
  chain_a(strcmp(arg, "pong") == 0 ? do_pong : do_old_wait, NULL);
  TP_TOUCH(1);
  return NULL;
}

NOIPA void main_wait(void) {
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {}
  TP_TOUCH(1);
}

int main(void) {
  pthread_setname_np(pthread_self(), "old-main");
  pthread_cond_init(&g_ping, NULL);
  pthread_cond_init(&g_pong, NULL);
  pthread_cond_init(&g_wait, NULL);

  pthread_t pong, waiter;
  pthread_create(&pong, NULL, thread_main, "pong");
  pthread_mutex_lock(&g_mu);
  for (int i = 0; i < ROUNDS; i++) {
    g_turn = 1;
    pthread_cond_signal(&g_pong);
    while (g_turn != 0) pthread_cond_wait(&g_ping, &g_mu);
  }
  int rounds = g_round;
  struct timespec ts = tp_in(CLOCK_REALTIME, 20);
  int r = pthread_cond_timedwait(&g_wait, &g_mu, &ts);
  pthread_mutex_unlock(&g_mu);
  pthread_join(pong, NULL);
  tp_line(rounds == ROUNDS ? "pingpong ok" : "pingpong FAILED %d", rounds);
  tp_line("timedwait %d", r);

  pthread_create(&waiter, NULL, thread_main, "oldwait");
  pthread_mutex_lock(&g_mu);
  while (!g_waiting) pthread_cond_wait(&g_ping, &g_mu);
  pthread_mutex_unlock(&g_mu);
  tp_line("tid oldwait %d", (int)g_waiter_tid);
  tp_line("expect oldwait %d blocked pthread_cond_wait 0x%lx ^do_old_wait," TP_CHAIN,
          (int)g_waiter_tid, (unsigned long)&g_wait);
  tp_line("tid old-main %d", (int)tp_gettid());
  tp_line("expect old-main %d blocked read 0x0 ^main_wait,main", (int)tp_gettid());
  tp_line("ready");

  main_wait();
  pthread_mutex_lock(&g_mu);
  g_release = 1;
  pthread_cond_signal(&g_wait);
  pthread_mutex_unlock(&g_mu);
  pthread_join(waiter, NULL);
  pthread_cond_destroy(&g_ping);
  pthread_cond_destroy(&g_pong);
  pthread_cond_destroy(&g_wait);
  tp_line("done");
  return 0;
}
