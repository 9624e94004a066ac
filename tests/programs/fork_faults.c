/* fork_faults: what a fork + _exit + waitpid costs in page faults and time,
 * the way a pre-forking server pays it per child (issue 11). Four threads
 * wait on a condition variable, so the process is multi-threaded
 * (threadsnap has its dumper running). The page-fault test runs it, and so
 * does bench/fork_bench.sh (time, plain and preloaded, pinned to one CPU).
 *
 * Prints "ready". Commands on stdin (one per line):
 *   measure N -> N rounds of fork + _exit + waitpid, then
 *                "faults child C parent P" with the minor faults per round,
 *                in hundredths: C those of the children (RUSAGE_CHILDREN),
 *                P those of this process (RUSAGE_SELF) across the round
 *   time N    -> N rounds, then "times p10 P p50 Q": the 10th and 50th
 *                percentiles of one round's wall time, in ns
 *   dump      -> asks the preloaded library for a dump (threadsnap_trigger)
 *                and waits until it is written whole in THREADSNAP_DIR (its
 *                helpers are loaded by then): "dumped", or "no dump"
 *   quit
 */
// CFLAGS: -ldl
#include "testprog.h"

#include <alloca.h>
#include <dlfcn.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>

static pthread_mutex_t g_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;

static void* idle(void* arg) {
  pthread_mutex_lock(&g_m);
  for (;;) pthread_cond_wait(&g_cv, &g_m);
  return arg;
}

static long minflt(int who) {
  struct rusage u;
  getrusage(who, &u);
  return u.ru_minflt;
}

/* N rounds of fork + _exit + waitpid; the minor faults per round (in
 * hundredths) in *child and *parent; each round's wall time in ns in
 * times[] unless it is null. */
static __attribute__((noinline)) void rounds(int n, long* child, long* parent, uint64_t* times) {
  long c0 = minflt(RUSAGE_CHILDREN), s0 = minflt(RUSAGE_SELF);
  for (int i = 0; i < n; ++i) {
    uint64_t t0 = times ? tp_now_ns() : 0;
    pid_t c = fork();
    if (c == 0) _exit(0);
    if (c < 0) tp_die("fork");
    int st;
    if (waitpid(c, &st, 0) != c) tp_die("waitpid");
    if (times) times[i] = tp_now_ns() - t0;
  }
  long c1 = minflt(RUSAGE_CHILDREN), s1 = minflt(RUSAGE_SELF);
  *child = (c1 - c0) * 100 / n;
  *parent = (s1 - s0) * 100 / n;
}

/* rounds() with its stack frames, and fork's and waitpid's below them, in
 * the middle of one page: the kernel starts the stack at a random offset
 * within a page, so without this the frames straddle a page boundary in some
 * runs and not others, and each fork costs the parent one copy-on-write fault
 * more (the stack page written after the fork), library or not. */
static __attribute__((noinline)) void rounds_mid_page(int n, long* child, long* parent,
                                                      uint64_t* times) {
  uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
  volatile char* pad = alloca((sp & 4095) + 2048);
  pad[0] = 0;
  rounds(n, child, parent, times);
}

static int cmp_u64(const void* a, const void* b) {
  uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
  return x < y ? -1 : x > y;
}

/* One dump through the preloaded library; 1 once its file is there. */
static int dump_once(void) {
  static int dumps;
  int (*trigger)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "threadsnap_trigger");
  const char* dir = getenv("THREADSNAP_DIR");
  if (!trigger || !dir) return 0;
  char path[4096];
  snprintf(path, sizeof path, "%s/threadsnap.%d.%d.txt", dir, (int)getpid(), ++dumps);
  trigger();
  for (int i = 0; i < 2000 && access(path, F_OK) != 0; ++i) usleep(5000);
  return access(path, F_OK) == 0;
}

int main(void) {
  for (int i = 0; i < 4; ++i) {
    pthread_t t;
    if (pthread_create(&t, NULL, idle, NULL) != 0) tp_die("pthread_create");
  }
  tp_line("ready");
  char line[128];
  while (fgets(line, sizeof(line), stdin)) {
    int n = 0;
    long child = 0, parent = 0;
    if (sscanf(line, "measure %d", &n) == 1 && n > 0) {
      rounds_mid_page(n, &child, &parent, NULL);
      tp_line("faults child %ld parent %ld", child, parent);
    } else if (sscanf(line, "time %d", &n) == 1 && n > 0) {
      uint64_t* times = calloc((size_t)n, sizeof *times);
      if (!times) tp_die("calloc");
      rounds_mid_page(n, &child, &parent, times);
      qsort(times, (size_t)n, sizeof *times, cmp_u64);
      tp_line("times p10 %llu p50 %llu", (unsigned long long)times[n / 10],
              (unsigned long long)times[n / 2]);
      free(times);
    } else if (strncmp(line, "dump", 4) == 0) {
      tp_line(dump_once() ? "dumped" : "no dump");
    } else if (strncmp(line, "quit", 4) == 0) {
      break;
    }
  }
  return 0;
}
