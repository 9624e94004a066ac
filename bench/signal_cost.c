/*
 * What signalling one thread costs on this machine, with no library: the
 * floor under any stop that must interrupt a thread running on another CPU.
 *
 *   signal_cost [samples]
 *
 * A thread spins on CPU 1 (the sender is pinned to CPU 0), another sleeps
 * in pause(). For each sample: the tgkill system call to the spinner (the
 * kernel kicks its CPU with an interprocessor interrupt), the time from the
 * send to the first instruction of its handler, and the tgkill to the
 * sleeper (a wake-up). Samples are 1 ms apart. Prints one JSON line of
 * nanosecond percentiles. Needs 2 CPUs; on 1 it prints {"cpus": 1}.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic int g_spin_tid, g_sleep_tid;
static _Atomic long g_entered_ns;

static long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void on_signal(int sig) {
  (void)sig;
  if (atomic_load(&g_entered_ns) == 0) atomic_store(&g_entered_ns, now_ns());
}

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

static void* spinner(void* arg) {
  (void)arg;
  pin(1);
  atomic_store(&g_spin_tid, (int)gettid());
  for (;;) __asm__ volatile("" ::: "memory");
  return NULL;
}

static void* sleeper(void* arg) {
  (void)arg;
  atomic_store(&g_sleep_tid, (int)gettid());
  for (;;) pause();
  return NULL;
}

static int cmp(const void* a, const void* b) {
  long x = *(const long*)a, y = *(const long*)b;
  return (x > y) - (x < y);
}

static void print_pcts(const char* key, long* v, int n, int last) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  printf("\"%s\": {\"p10\": %ld, \"p50\": %ld, \"p90\": %ld}%s", key, v[n / 10], v[n / 2],
         v[n * 9 / 10], last ? "" : ", ");
}

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 300;
  if (n < 10) n = 10;
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
    printf("{\"cpus\": 1}\n");
    return 0;
  }
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGURG, &sa, NULL);
  pin(0);
  pthread_t t;
  pthread_create(&t, NULL, spinner, NULL);
  pthread_create(&t, NULL, sleeper, NULL);
  while (!atomic_load(&g_spin_tid) || !atomic_load(&g_sleep_tid)) usleep(1000);
  usleep(20000);
  long* send_running = calloc((size_t)n, sizeof(long));
  long* to_handler = calloc((size_t)n, sizeof(long));
  long* send_sleeping = calloc((size_t)n, sizeof(long));
  struct timespec gap = {0, 1000000};
  pid_t pid = getpid();
  for (int i = 0; i < n; ++i) {
    atomic_store(&g_entered_ns, 0);
    long t0 = now_ns();
    syscall(SYS_tgkill, pid, atomic_load(&g_spin_tid), SIGURG);
    long t1 = now_ns();
    while (atomic_load(&g_entered_ns) == 0) __asm__ volatile("pause");
    send_running[i] = t1 - t0;
    to_handler[i] = atomic_load(&g_entered_ns) - t0;
    nanosleep(&gap, NULL);
    t0 = now_ns();
    syscall(SYS_tgkill, pid, atomic_load(&g_sleep_tid), SIGURG);
    send_sleeping[i] = now_ns() - t0;
    nanosleep(&gap, NULL);
  }
  printf("{\"cpus\": %ld, \"samples\": %d, ", sysconf(_SC_NPROCESSORS_ONLN), n);
  print_pcts("send_running_ns", send_running, n, 0);
  print_pcts("send_to_handler_ns", to_handler, n, 0);
  print_pcts("send_sleeping_ns", send_sleeping, n, 1);
  printf("}\n");
  return 0;
}
