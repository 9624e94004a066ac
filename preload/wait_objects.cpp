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
  if (call == kCall_poll || call == kCall_ppoll) {
    if (!r->obj2) return static_cast<uintptr_t>(-1);
    int fd = -1;
    if (safe_read(r->obj + offsetof(struct pollfd, fd), &fd, sizeof(fd)) != sizeof(fd)) fd = -1;
    return static_cast<uintptr_t>(static_cast<intptr_t>(fd));
  }
  int n = static_cast<int>(r->obj);
  if (n > FD_SETSIZE) n = FD_SETSIZE;
  int best = -1;
  if (n <= 0) return static_cast<uintptr_t>(-1);
  size_t bytes = (static_cast<size_t>(n) + 63) / 64 * 8;
  for (uintptr_t set : r->wait_sets) {
    if (!set) continue;
    uint64_t bits[FD_SETSIZE / 64];
    long got = safe_read(set, bits, bytes);
    if (got <= 0) continue;
    int limit = static_cast<int>(got / 8 * 64);
    if (limit > n) limit = n;
    for (int fd = 0; fd < limit && (best < 0 || fd < best); ++fd)
      if ((bits[fd / 64] >> (fd % 64)) & 1) {
        best = fd;
        break;
      }
  }
  return static_cast<uintptr_t>(static_cast<intptr_t>(best));
}

}  // namespace threadsnap::detail
