/* fork_faults: what a fork + _exit + waitpid costs in page faults, the way
 * a pre-forking server pays it per child (issue 11). Four threads wait on a
 * condition variable, so the process is multi-threaded (threadsnap has its
 * dumper running).
 *
 * Prints "ready". Commands on stdin (one per line):
 *   measure N -> N rounds of fork + _exit + waitpid, then
 *                "faults child C parent P" with the minor faults per round,
 *                in hundredths: C those of the children (RUSAGE_CHILDREN),
 *                P those of this process (RUSAGE_SELF) across the round
 *   quit
 */
#include "testprog.h"

#include <alloca.h>
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
 * hundredths) in *child and *parent. */
static __attribute__((noinline)) void rounds(int n, long* child, long* parent) {
  long c0 = minflt(RUSAGE_CHILDREN), s0 = minflt(RUSAGE_SELF);
  for (int i = 0; i < n; ++i) {
    pid_t c = fork();
    if (c == 0) _exit(0);
    if (c < 0) tp_die("fork");
    int st;
    if (waitpid(c, &st, 0) != c) tp_die("waitpid");
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
static __attribute__((noinline)) void rounds_mid_page(int n, long* child, long* parent) {
  uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
  volatile char* pad = alloca((sp & 4095) + 2048);
  pad[0] = 0;
  rounds(n, child, parent);
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
    if (sscanf(line, "measure %d", &n) == 1 && n > 0) {
      long child = 0, parent = 0;
      rounds_mid_page(n, &child, &parent);
      tp_line("faults child %ld parent %ld", child, parent);
    } else if (strncmp(line, "quit", 4) == 0) {
      break;
    }
  }
  return 0;
}
