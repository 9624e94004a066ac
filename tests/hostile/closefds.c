/* a. A daemon that closes every inherited fd (close_range(3, ~0)), opens its
 * log file, is dumped (threadsnap_trigger and kill -USR2), then writes its
 * log. The log's fd must be 3, as without the library, and the log must hold
 * exactly what the program wrote. Today the trigger eventfd is closed under
 * the library's feet: the log gets its number and each trigger writes 8
 * bytes into it. */
// NOSANITIZE
#include "hostile.h"

int main(void) {
  char path[] = "/tmp/threadsnap-hostile-log.XXXXXX";
  int tmp = mkstemp(path);
  if (tmp < 0) { h_out("mkstemp failed"); return 3; }
  if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) { h_out("close_range failed errno=%d", errno); return 3; }
  int log = open(path, O_WRONLY | O_TRUNC);
  h_out("log fd %d", log);
  h_dump();
  h_dump_signal();
  const char msg[] = "daemon started\n";
  if (write(log, msg, sizeof msg - 1) != (ssize_t)sizeof msg - 1) h_out("write failed errno=%d", errno);
  h_dump();
  close(log);
  char buf[256];
  int in = open(path, O_RDONLY);
  ssize_t n = read(in, buf, sizeof buf);
  close(in);
  unlink(path);
  h_out("log has %zd bytes, %s", n, n == (ssize_t)sizeof msg - 1 && memcmp(buf, msg, (size_t)n) == 0 ? "as written" : "NOT as written");
  int again = open("/dev/null", O_RDONLY);
  h_out("next open fd %d", again);
  close(again);
  h_finish();
  return 0;
}
