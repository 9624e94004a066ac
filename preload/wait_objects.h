// threadsnap: the fd a poll or select waits on, for the dump's `obj`: the
// wrapper records only the caller's pointers (a bad pointer must give
// EFAULT, not SIGSEGV), and a capture reads them with safe_read.
#pragma once

#include <cstdint>

#include "preload/registry.h"

namespace threadsnap::detail {

// poll/ppoll/select/pselect: obj is resolved at capture. Any context.
bool is_fd_array_wait(uint32_t call);
// The fd a poll/select waits on (the first pollfd's fd; the lowest fd of
// any set), read from the program's memory with safe_read only: the memory
// may be unmapped or freed meanwhile. -1 if there is none or it cannot be
// read. Any context.
uintptr_t resolve_fd_wait(const Record* r, uint32_t call);

}  // namespace threadsnap::detail
