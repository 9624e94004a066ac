// threadsnap: the fd a poll or select waits on; see wait_objects.h.
#include "preload/wait_objects.h"

#include <poll.h>
#include <sys/select.h>

#include <cstddef>

#include "base/call_ids.h"
#include "unwind/stack_copy.h"

namespace threadsnap::detail {

bool is_fd_array_wait(uint32_t call) {
  return call == kCall_poll || call == kCall_ppoll || call == kCall_select ||
         call == kCall_pselect;
}

uintptr_t resolve_fd_wait(const Record* r, uint32_t call) {
  const CallDetail& d = call_detail(r);
  if (call == kCall_poll || call == kCall_ppoll) {
    if (!d.obj2) return static_cast<uintptr_t>(-1);
    int fd = -1;
    if (safe_read(d.obj + offsetof(struct pollfd, fd), &fd, sizeof(fd)) != sizeof(fd)) fd = -1;
    return static_cast<uintptr_t>(static_cast<intptr_t>(fd));
  }
  int n = static_cast<int>(d.obj);
  if (n > FD_SETSIZE) n = FD_SETSIZE;
  int best = -1;
  if (n <= 0) return static_cast<uintptr_t>(-1);
  // A word of each set at a time, not the whole set on the stack: this runs
  // in the stop handler too, which may have under 1 KiB of a program's
  // alternate signal stack (see safe_read).
  int words = (n + 63) / 64;
  for (uintptr_t set : d.wait_sets) {
    if (!set) continue;
    for (int w = 0; w < words && (best < 0 || w * 64 < best); ++w) {
      uint64_t bits = 0;
      if (safe_read(set + 8 * static_cast<uintptr_t>(w), &bits, 8) != 8) break;
      for (int b = 0; b < 64 && w * 64 + b < n; ++b)
        if ((bits >> b) & 1) {
          if (best < 0 || w * 64 + b < best) best = w * 64 + b;
          break;
        }
      if (bits) break;
    }
  }
  return static_cast<uintptr_t>(static_cast<intptr_t>(best));
}

}  // namespace threadsnap::detail
