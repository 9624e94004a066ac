/* k2. A thread other than main forks; in the child that thread (its only
 * one) returns from its start routine, which ends the child process (exit
 * status 0). Today the child has a dumper thread too and never exits; the
 * parent gives it 2 s, then kills it and says so. */
// HOSTILE: forks
// NOSANITIZE
#include "hostile.h"

#include <sys/wait.h>

static void* forker(void* arg) {
  (void)arg;
  pid_t pid = fork();
  if (pid == 0) return NULL;  // the child's last thread ends
  long deadline = h_now_ms() + 2000;
  int st = 0;
  for (;;) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) break;
    if (h_now_ms() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      h_out("child did not exit within 2 s");
      return NULL;
    }
    h_sleep_ms(5);
  }
  if (WIFEXITED(st))
    h_out("child exited %d", WEXITSTATUS(st));
  else
    h_out("child killed by signal %d", WTERMSIG(st));
  return NULL;
}

int main(void) {
  h_dump();
  pthread_t t;
  pthread_create(&t, NULL, forker, NULL);
  pthread_join(t, NULL);
  h_finish();
  return 0;
}
