/* i. fd hygiene.
 *   - After dumps, this process has the fds it had plainly (0, 1, 2) and a
 *     child it forks and execs ("child") lists only 0, 1 and 2 in
 *     /proc/self/fd. Today the trigger eventfd (and libunwind's pipe) show.
 *   - open()+dup() return adjacent numbers in a loop that runs while dumps
 *     are taken. Today an fd the dumper opens meanwhile (a dump file, /proc
 *     files, libunwind's pipe) can take a number in between. That part is a
 *     race: it fails often, not always, on a broken library. */
// HOSTILE: forks
// NOSANITIZE
#include "hostile.h"

#include <sys/wait.h>

static void list_fds(const char* who) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) { h_out("%s: cannot list fds", who); return; }
  int self = dirfd(d);
  char buf[512];
  int len = 0;
  int fds[256], n = 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    if (fd != self && n < 256) fds[n++] = fd;
  }
  closedir(d);
  for (int i = 0; i < n; i++)  // sort: readdir order is not guaranteed
    for (int j = i + 1; j < n; j++)
      if (fds[j] < fds[i]) { int t = fds[i]; fds[i] = fds[j]; fds[j] = t; }
  for (int i = 0; i < n && len < (int)sizeof buf - 16; i++) len += snprintf(buf + len, sizeof buf - (size_t)len, " %d", fds[i]);
  buf[len] = 0;
  h_out("%s: open fds:%s", who, buf);
}

int main(int argc, char** argv) {
  if (argc > 1) { list_fds("exec'd child"); return 0; }
  h_dump();
  h_dump_signal();
  list_fds("after dumps");
  int st = h_run_self_child();
  h_out("child exit %d", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));

  h_trigger_fn trig = h_trigger_fn_get();
  int bad = 0, iters = 0;
  for (int k = 0; k < 20; k++) {
    int before = h_count_dumps();
    if (trig) trig();
    long deadline = h_now_ms() + H_DUMP_WAIT_MS;
    int got = 0;
    for (int i = 0; i < 200 || (trig && !got); i++) {
      int a = open("/dev/null", O_RDONLY);
      int b = dup(a);
      if (b != a + 1) bad++;
      iters++;
      close(b);
      close(a);
      if (trig && !got && (i % 16) == 0) got = h_count_dumps() > before;
      if (h_now_ms() > deadline) { h_fail("no dump file within %d ms", H_DUMP_WAIT_MS); break; }
    }
    if (trig && got) h_dumps_waited++;
  }
  if (bad) h_report("open+dup not adjacent in %d of %d iterations", bad, iters);
  h_out("open+dup: %s", bad ? "NOT always adjacent" : "always adjacent");
  list_fds("at the end");
  h_finish();
  return 0;
}
