/* host_single: a single-threaded program waiting in poll on stdin, as a
 * daemon's main loop does. Issue 11/12: threadsnap must not add a thread, a
 * file descriptor or an EINTR to it, and must still dump it.
 *
 * Prints "ready". Commands on stdin (one per line):
 *   tasks   -> "tasks N" (entries of /proc/self/task)
 *   fds     -> "fds A,B,..." (the open fds, from /proc/self/fd)
 *   eintr   -> "eintr N" (how often poll returned EINTR)
 *   fork    -> forks a child that waits in read() on a pipe and prints
 *              "child PID"; the parent goes on
 *   quit
 */
#include "testprog.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>

static int count_dir(const char* path, char* list, size_t size) {
  DIR* d = opendir(path);
  int n = 0, fd = d ? dirfd(d) : -1;
  size_t used = 0;
  struct dirent* e;
  if (list) list[0] = 0;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    if (list && atoi(e->d_name) != fd)
      used += (size_t)snprintf(list + used, used < size ? size - used : 0, "%s%s", used ? "," : "",
                               e->d_name);
    ++n;
  }
  if (d) closedir(d);
  return n;
}

int main(void) {
  long eintr = 0;
  tp_line("ready");
  char buf[256];
  size_t have = 0;
  for (;;) {
    struct pollfd p = {0, POLLIN, 0};
    int rc = poll(&p, 1, -1);  /* MARK:poll */
    if (rc < 0 && errno == EINTR) {
      ++eintr;
      continue;
    }
    if (rc < 0) tp_die("poll");
    ssize_t got = read(0, buf + have, sizeof buf - 1 - have);
    if (got <= 0) return 0;
    have += (size_t)got;
    buf[have] = 0;
    char* nl;
    while ((nl = strchr(buf, '\n'))) {
      *nl = 0;
      if (!strcmp(buf, "tasks")) {
        tp_line("tasks %d", count_dir("/proc/self/task", NULL, 0));
      } else if (!strcmp(buf, "fds")) {
        char list[512];
        count_dir("/proc/self/fd", list, sizeof list);
        tp_line("fds %s", list);
      } else if (!strcmp(buf, "eintr")) {
        tp_line("eintr %ld", eintr);
      } else if (!strcmp(buf, "fork")) {
        int fds[2];
        if (pipe(fds)) tp_die("pipe");
        pid_t c = fork();
        if (c == 0) {
          char ch;
          tp_line("child %d", (int)getpid());
          while (read(fds[0], &ch, 1) < 0 && errno == EINTR) {
          }
          _exit(0);
        }
        /* The write end stays open here: the child waits until we exit. */
        close(fds[0]);
      } else if (!strcmp(buf, "quit")) {
        return 0;
      }
      memmove(buf, nl + 1, have - (size_t)(nl + 1 - buf) + 1);
      have -= (size_t)(nl + 1 - buf);
    }
  }
}
