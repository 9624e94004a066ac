/* b. Started with stdin closed (`prog <&-`, like `cat <&-`): read(0) must
 * fail with EBADF at once. Today the library's eventfd takes fd 0 and the
 * read blocks; alarm(2) turns that hang into a death by SIGALRM. */
// HOSTILE: stdin=closed
// NOSANITIZE
#include "hostile.h"

int main(void) {
  alarm(2);
  static char c[4096];  // as cat reads
  errno = 0;
  ssize_t n = read(0, c, sizeof c);
  h_out("read(0) = %zd errno %s", n, errno == EBADF ? "EBADF" : strerror(errno));
  h_dump();
  errno = 0;
  n = read(0, c, sizeof c);
  h_out("after a dump: read(0) = %zd errno %s", n, errno == EBADF ? "EBADF" : strerror(errno));
  int fd = open("/dev/null", O_RDONLY);
  h_out("first open fd %d", fd);
  close(fd);
  alarm(0);
  h_finish();
  return 0;
}
