/* g. A vfork child resets every signal that has a handler to SIG_DFL (what
 * posix_spawn-like code does) and execs /bin/true. Afterwards the parent
 * must still be dumpable through kill -USR2, and nothing may appear on
 * stderr. Today the child's sigaction runs in the parent's memory: it
 * switches the parent's trigger off and prints a line on stderr. */
// HOSTILE: forks
// NOSANITIZE
#include "hostile.h"

#include <sys/wait.h>

int main(void) {
  h_dump_signal();
  pid_t pid = vfork();
  if (pid == 0) {
    for (int sig = 1; sig < NSIG; sig++) {
      struct sigaction old;
      if (sigaction(sig, NULL, &old) != 0) continue;
      if ((old.sa_flags & SA_SIGINFO) || (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(sig, &dfl, NULL);
      }
    }
    execl("/bin/true", "true", (char*)NULL);
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  h_out("vfork child: %s %d", WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
  h_dump_signal();
  h_dump_signal();
  h_out("parent done");
  h_finish();
  return 0;
}
