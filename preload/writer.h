// threadsnap: writes a dump in format v1 (DESIGN.md) to
// $THREADSNAP_DIR/threadsnap.<pid>.<seq>.txt: mode 0600, created with
// O_EXCL|O_NOFOLLOW under a temporary name and renamed without replacing,
// so a file with the final name is always whole. On the dumper thread,
// outside any stop. NOT async-signal-safe.
#pragma once

#include <cstdint>

#include "preload/coordinator.h"

namespace threadsnap::detail {

void write_dump(const uint32_t* members, uint32_t count, const DumpTimes& t);

// A forked child numbers its own dumps from 1.
void writer_after_fork_child();

}  // namespace threadsnap::detail
