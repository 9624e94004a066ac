/* claimstall: a worker blocked in read() on a pipe, woken on command while a
 * dump is under way, so that it claims itself in the wrapper's barrier (with
 * THREADSNAP_TEST_CLAIM_STALL_MS its claim then takes longer than the dump
 * may wait: issue 11, "a claim that is never finished has no timeout").
 * Prints "tid worker TID" and "ready". Commands on stdin:
 *   wake  -> the worker's read returns; it prints "woke"
 *   jump  -> SIGUSR1 to the worker, whose handler siglongjmps back to the
 *            worker's loop (out of a stalled claim, if it is in one); it
 *            prints "jumped"
 *   fork  -> forks a child that exits at once; prints "forked STATUS"
 *   quit */
#include "testprog.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

static int g_pipe[2];
static atomic_int g_up;
static sigjmp_buf g_jump;

static void on_usr1(int sig) {
  (void)sig;
  siglongjmp(g_jump, 1);
}

NOIPA void* worker_main(void* arg) {
  tp_line("tid worker %d", (int)tp_gettid());
  if (sigsetjmp(g_jump, 1)) tp_line("jumped");
  atomic_store(&g_up, 1);
  char c;
  while (read(g_pipe[0], &c, 1) == 1) tp_line("woke");
  return arg;
}

int main(void) {
  if (pipe(g_pipe)) tp_die("pipe");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGUSR1, &sa, NULL)) tp_die("sigaction");
  pthread_t w;
  pthread_create(&w, NULL, worker_main, NULL);
  while (!atomic_load(&g_up)) sched_yield();
  tp_line("ready");
  /* The raw system call: the main thread must not leave a wrapped call
   * during the dump (it would claim itself and stall too); it is running,
   * so stop 1 captures it by signal. */
  char line[64];
  ssize_t n;
  while ((n = syscall(SYS_read, 0, line, sizeof line - 1)) > 0 || (n < 0 && errno == EINTR)) {
    if (n < 0) continue;
    line[n] = 0;
    if (!strncmp(line, "wake", 4)) {
      if (write(g_pipe[1], "x", 1) != 1) tp_die("write");
    } else if (!strncmp(line, "jump", 4)) {
      pthread_kill(w, SIGUSR1);
    } else if (!strncmp(line, "fork", 4)) {
      pid_t c = fork();
      if (c == 0) _exit(7);
      int st = 0;
      waitpid(c, &st, 0);
      tp_line("forked %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    } else if (!strncmp(line, "quit", 4)) {
      break;
    }
  }
  _exit(0);
}
