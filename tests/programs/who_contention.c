/* Heavy lock contention without any deadlock (issue 7, "Who holds what"):
 * N threads (argv[1], default 16) named cw-1 .. cw-N take random non-empty
 * subsets of 3 mutexes, always in the global order m0, m1, m2, hold them for a
 * short critical section and release them in reverse order, forever. No
 * cycle can ever exist. Prints "mutex mK 0xADDR", "tid NAME TID" and "ready"
 * once every thread is in its loop.
 */
#include "testprog.h"

#include <signal.h>

#define NM 3
static pthread_mutex_t g_m[NM] = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
                                  PTHREAD_MUTEX_INITIALIZER};
static unsigned long g_count[NM];
static pthread_barrier_t g_bar;

NOIPA void take(int k) { pthread_mutex_lock(&g_m[k]); }
NOIPA void give(int k) { pthread_mutex_unlock(&g_m[k]); }

NOIPA void* worker_main(void* arg) {
  char name[16];
  int id = (int)(intptr_t)arg;
  snprintf(name, sizeof name, "cw-%d", id);
  tp_register(name);
  uint32_t x = 2463534242u ^ (uint32_t)(id * 7919);
  pthread_barrier_wait(&g_bar);
  for (;;) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;          /* xorshift32 */
    int set = (int)(x % 7) + 1;                       /* non-empty subset of {m0,m1,m2} */
    for (int k = 0; k < NM; k++)
      if (set & (1 << k)) take(k);
    for (int k = 0; k < NM; k++)
      if (set & (1 << k)) g_count[k]++;               /* the critical section */
    for (volatile int spin = 0; spin < 200; spin++) {}
    for (int k = NM - 1; k >= 0; k--)
      if (set & (1 << k)) give(k);
  }
  return NULL;
}

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 16;
  if (n < 1 || n > 1000) return 2;
  pthread_setname_np(pthread_self(), "who-main");
  for (int k = 0; k < NM; k++) tp_line("mutex m%d 0x%lx", k, (unsigned long)&g_m[k]);
  pthread_barrier_init(&g_bar, NULL, (unsigned)n + 1);
  pthread_t t;
  for (int i = 1; i <= n; i++)
    if (pthread_create(&t, NULL, worker_main, (void*)(intptr_t)i)) tp_die("pthread_create");
  pthread_barrier_wait(&g_bar);
  tp_line("ready");
  for (;;) pause();
}
