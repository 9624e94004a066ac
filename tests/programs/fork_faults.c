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
      long c0 = minflt(RUSAGE_CHILDREN), s0 = minflt(RUSAGE_SELF);
      for (int i = 0; i < n; ++i) {
        pid_t c = fork();
        if (c == 0) _exit(0);
        if (c < 0) tp_die("fork");
        int st;
        if (waitpid(c, &st, 0) != c) tp_die("waitpid");
      }
      long c1 = minflt(RUSAGE_CHILDREN), s1 = minflt(RUSAGE_SELF);
      tp_line("faults child %ld parent %ld", (c1 - c0) * 100 / n, (s1 - s0) * 100 / n);
    } else if (strncmp(line, "quit", 4) == 0) {
      break;
    }
  }
  return 0;
}
