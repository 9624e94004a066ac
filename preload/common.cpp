// threadsnap: threadsnap's log; see common.h.
#include "preload/common.h"

#include <fcntl.h>

#include <cstring>

#include "preload/config.h"
#include "preload/control.h"
#include "preload/process_local.h"

namespace threadsnap::detail {


uint64_t g_yield_until_ns = 0;

void log_reset() { g_pid.store(raw_getpid(), std::memory_order_relaxed); }

void log_path(Line& out) {
  if (g_config.log_to == kLogFile)
    out.s(g_config.dir).s("/threadsnap.").u(static_cast<uint64_t>(raw_getpid())).s(".log");
}

void log_line(Line& text) {
  int saved = errno;
  // One write per line, and always a whole line: a long text is cut short,
  // never its newline.
  char out[sizeof(Line) + 16];
  size_t n = 0;
  for (const char* p = "threadsnap: "; *p; ++p) out[n++] = *p;
  const char* t = text.data();
  for (size_t i = 0; i < text.size() && n < sizeof(out) - 1; ++i) out[n++] = t[i];
  out[n++] = '\n';
  if (g_config.log_to == kLogStderr) {
    raw_write(2, out, n);
  } else if (g_config.log_to == kLogFile) {
    Line path;
    log_path(path);
    long fd = raw_syscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>(path.data()),
                          O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
      raw_write(static_cast<int>(fd), out, n);
      raw_syscall(SYS_close, fd);
    }
  }
  if (strncmp(t, "wrote ", 6) != 0) control_set_message(t);
  errno = saved;
}

void log_msg(const char* a, const char* b, const char* c) {
  Line l;
  l.s(a).s(b).s(c);
  log_line(l);
}

}  // namespace threadsnap::detail
