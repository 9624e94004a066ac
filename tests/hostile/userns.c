/* j. Namespaces that need a single-threaded process.
 *   1. a forked child unshares a user namespace and waits;
 *   2. another forked child joins it with setns;
 *   3. the program itself calls unshare(CLONE_NEWUSER), then is dumped.
 * As root all three work plainly. Today each fails with EINVAL under the
 * library: the dumper thread makes every process multi-threaded. */
// HOSTILE: forks
// NOSANITIZE
#include "hostile.h"

#include <sched.h>
#include <sys/wait.h>

int main(void) {
  int ready[2], hold[2];
  if (pipe(ready) || pipe(hold)) return 3;
  pid_t owner = fork();
  if (owner == 0) {
    close(ready[0]);
    close(hold[1]);
    char r = unshare(CLONE_NEWUSER) == 0 ? 0 : (char)errno;
    if (write(ready[1], &r, 1) != 1) _exit(3);
    char c;
    while (read(hold[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  close(ready[1]);
  close(hold[0]);
  char r = 1;
  if (read(ready[0], &r, 1) != 1) r = -1;
  h_out("forked child: unshare(CLONE_NEWUSER) = %s", r == 0 ? "0" : strerror(r));
  if (r == 0) {
    pid_t joiner = fork();
    if (joiner == 0) {
      char path[64];
      snprintf(path, sizeof path, "/proc/%d/ns/user", (int)owner);
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) _exit(100);
      _exit(setns(fd, CLONE_NEWUSER) == 0 ? 0 : errno);
    }
    int st = 0;
    waitpid(joiner, &st, 0);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    h_out("forked child: setns(its sibling's user namespace) = %s", code == 0 ? "0" : strerror(code));
  }
  close(hold[1]);
  waitpid(owner, NULL, 0);
  int rc = unshare(CLONE_NEWUSER);
  h_out("unshare(CLONE_NEWUSER) = %s", rc == 0 ? "0" : strerror(errno));
  h_dump();
  h_out("after a dump");
  h_finish();
  return 0;
}
