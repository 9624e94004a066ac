// fork + _exit + waitpid in a loop, from a process with four idle threads
// (what a pre-forking server pays per child; issue 11). Prints the p10 and
// p50 of one round's wall times in ns. With argv[2] = 1 it first asks the
// preloaded library for one dump (threadsnap_trigger) and waits for it, so
// that the dump's helpers are loaded. bench/fork_bench.sh runs it plain and
// preloaded, alternating, pinned to one CPU.
//   fork_loop N [DUMP_FIRST]
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t g_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;

static void* idle(void* arg) {
  pthread_mutex_lock(&g_m);
  for (;;) pthread_cond_wait(&g_cv, &g_m);
  return arg;
}

static long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

static int cmp(const void* a, const void* b) {
  long x = *(const long*)a, y = *(const long*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000;
  if (n < 10) n = 10;
  for (int i = 0; i < 4; i++) {
    pthread_t t;
    pthread_create(&t, NULL, idle, NULL);
  }
  if (argc > 2 && atoi(argv[2])) {
    int (*trigger)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "threadsnap_trigger");
    if (!trigger) {
      fprintf(stderr, "fork_loop: no threadsnap_trigger (library not preloaded)\n");
      return 2;
    }
    // The dump file appears in THREADSNAP_DIR once written whole (the
    // caller removes it); the helpers are loaded by then.
    const char* dir = getenv("THREADSNAP_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/threadsnap.%d.1.txt", dir ? dir : ".", (int)getpid());
    trigger();
    int i = 0;
    while (access(path, F_OK) != 0 && i++ < 2000) usleep(5000);
    if (access(path, F_OK) != 0) {
      fprintf(stderr, "fork_loop: no dump %s after 10 s\n", path);
      return 2;
    }
  }
  long* v = malloc(n * sizeof(long));
  for (int i = 0; i < n; i++) {
    long t0 = now_ns();
    pid_t c = fork();
    if (c == 0) _exit(0);
    int st;
    waitpid(c, &st, 0);
    v[i] = now_ns() - t0;
  }
  qsort(v, n, sizeof(long), cmp);
  printf("%ld %ld\n", v[n / 10], v[n / 2]);
  return 0;
}
