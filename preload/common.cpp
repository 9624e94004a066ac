// threadsnap: stderr lines; see common.h.
#include "preload/common.h"

namespace threadsnap::detail {

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
  raw_write(2, out, n);
  errno = saved;
}

void log_msg(const char* a, const char* b, const char* c) {
  Line l;
  l.s(a).s(b).s(c);
  log_line(l);
}

}  // namespace threadsnap::detail
