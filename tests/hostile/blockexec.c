/* e2. A thread that blocks every signal runs through a dump, then
 *   1. forks, and the child execs this program ("child"), which unblocks
 *      every signal and must exit 0;
 *   2. execs this program ("image") itself, without LD_PRELOAD (as a
 *      program that execs a helper with a clean environment): the new image
 *      unblocks every signal and must exit 0.
 * Today the stop signal sent to the blocking thread stays pending; execve
 * keeps pending signals, so in 2 the new image, which has no handler for
 * it, dies of it when it unblocks
 * (fork clears them, so 1 checks the fork path only). */
// HOSTILE: forks
// NOSANITIZE
#include "hostile.h"

#include <sys/wait.h>

static int image(const char* what) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);  // a pending signal is delivered here
  h_out("%s: alive with every signal unblocked", what);
  h_finish();
  return 0;
}

static atomic_int g_dumped;

static void* blocker(void* arg) {
  (void)arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  volatile unsigned long x = 0;
  atomic_store(&g_dumped, 1);  // tells main to dump now
  while (atomic_load(&g_dumped) < 2) x++;  // running during the dump
  int st = h_run_self_child();
  if (WIFEXITED(st))
    h_out("forked child exited %d", WEXITSTATUS(st));
  else
    h_out("forked child killed by signal %d", WTERMSIG(st));
  h_check_pending("before execve");
  h_report("dumps %d", h_dumps_waited);
  unsetenv("LD_PRELOAD");  // the new image runs without the library
  execl(h_self(), h_self(), "image", (char*)NULL);
  h_out("execl failed errno=%d", errno);
  _exit(3);
}

int main(int argc, char** argv) {
  if (argc > 1) return image(argv[1]);
  pthread_t t;
  pthread_create(&t, NULL, blocker, NULL);
  while (atomic_load(&g_dumped) < 1) sched_yield();
  h_dump();
  atomic_store(&g_dumped, 2);
  pthread_join(t, NULL);  // never returns: the blocker execs
  return 3;
}
