// threadsnap: stderr lines; see common.h.
#include "preload/common.h"

namespace threadsnap::detail {

void log_line(Line& text) {
  int saved = errno;
  Line out;
  out.s("threadsnap: ").s(text.data()).c('\n');
  raw_write(2, out.data(), out.size());
  errno = saved;
}

void log_msg(const char* a, const char* b, const char* c) {
  Line l;
  l.s(a).s(b).s(c);
  log_line(l);
}

}  // namespace threadsnap::detail
