/* rec_split: a program with a known wall-clock split, for `threadsnap record`
 * (issue 15). Eight workers "rec-worker" repeat a cycle of length C, chosen
 * at random in [80, 120] ms each cycle (so that a fixed sampling rate cannot
 * alias with it):
 *   10% of C computing in crunch()                       (state running)
 *   30% of C in pthread_cond_timedwait on a condvar nobody signals
 *   60% of C blocked in pthread_mutex_lock(&g_m), held by "rec-holder",
 *       which spends its whole hold in slow_update()
 * The holder paces the cycle: it releases g_m at time u (and publishes u),
 * relocks it at u + 0.3 C (before any worker is back: they return at
 * u + 0.4 C) and holds it in slow_update() until u + C. A worker that got g_m
 * computes until u + 0.1 C, waits on the condvar until u + 0.4 C, then
 * queues for g_m again. Every deadline is absolute, so the split does not
 * drift with scheduling delays.
 *
 * Prints "mutex M 0xADDR", "tid NAME TID" and "ready"; runs until killed, or
 * for argv[1] seconds (then exits 0: the "program exits early" case).
 */
#include "testprog.h"

#include <sched.h>

#define NWORKERS 8

static pthread_mutex_t g_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv;                      /* CLOCK_MONOTONIC, never signalled */
static int64_t g_u_ns;                           /* under g_m: when the holder released it */
static int64_t g_cycle_ns;                       /* under g_m: the length of this cycle */
static pthread_barrier_t g_bar;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec ts_of(int64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
  return ts;
}

static void sleep_until(int64_t ns) {
  struct timespec ts = ts_of(ns);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
}

/* The holder's whole hold of g_m. */
NOIPA void slow_update(int64_t until_ns) {
  sleep_until(until_ns);
  TP_TOUCH(1);
}

/* Computes until `until_ns` (wall clock: the split is in wall time). It
 * yields the CPU between rounds: on 2 cores, eight threads that only
 * compute would starve the chain of wake-ups that hands g_m from worker to
 * worker (one unlock wakes one waiter), and the split would drift. A
 * yielding thread is still running (not blocked in a wrapped call). */
NOIPA void crunch(int64_t until_ns) {
  unsigned x = 1;
  while (now_ns() < until_ns) {
    for (int i = 0; i < 1000; i++) x = x * 1664525u + 1013904223u;
    sched_yield();
  }
  TP_TOUCH(x & 1);
}

NOIPA void wait_a_while(int64_t until_ns) {
  struct timespec ts = ts_of(until_ns);
  pthread_mutex_lock(&g_cm);
  while (pthread_cond_timedwait(&g_cv, &g_cm, &ts) != ETIMEDOUT) {}
  pthread_mutex_unlock(&g_cm);
  TP_TOUCH(1);
}

NOIPA void* worker_main(void* arg) {
  tp_register("rec-worker");
  pthread_barrier_wait(&g_bar);
  for (;;) {
    pthread_mutex_lock(&g_m);                    /* 60%: behind the holder */
    int64_t u = g_u_ns, c = g_cycle_ns;
    pthread_mutex_unlock(&g_m);
    crunch(u + c / 10);                          /* 10% */
    wait_a_while(u + c * 4 / 10);                /* 30% */
  }
  return NULL;
}

NOIPA void* holder_main(void* arg) {
  tp_register("rec-holder");
  uint32_t x = 2463534242u;
  pthread_mutex_lock(&g_m);
  pthread_barrier_wait(&g_bar);
  int64_t u = now_ns();
  for (;;) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;    /* xorshift32 */
    int64_t c = (80 + (int64_t)(x % 41)) * 1000000;
    g_cycle_ns = c;
    g_u_ns = u;
    pthread_mutex_unlock(&g_m);
    sleep_until(u + c * 3 / 10);
    pthread_mutex_lock(&g_m);
    slow_update(u + c);
    u = now_ns();
  }
  return NULL;
}

int main(int argc, char** argv) {
  int seconds = argc > 1 ? atoi(argv[1]) : 0;
  pthread_setname_np(pthread_self(), "rec-main");
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&g_cv, &ca);
  tp_line("mutex M 0x%lx", (unsigned long)&g_m);
  tp_line("mutex CM 0x%lx", (unsigned long)&g_cm);
  pthread_barrier_init(&g_bar, NULL, NWORKERS + 2);
  pthread_t t;
  if (pthread_create(&t, NULL, holder_main, NULL)) tp_die("pthread_create");
  for (int i = 0; i < NWORKERS; i++)
    if (pthread_create(&t, NULL, worker_main, NULL)) tp_die("pthread_create");
  pthread_barrier_wait(&g_bar);
  tp_line("ready");
  if (seconds > 0) {
    sleep_until(now_ns() + (int64_t)seconds * 1000000000);
    return 0;
  }
  for (;;) pause();
}
