// threadsnap: the torn capture mode, for tests only (THREADSNAP_TEST_TORN).
//
// It exists to show that the consistency test can fail: it captures threads
// the way a naive dumper does, with no cut. Stop 1 signals every member,
// blocked ones too, one at a time, each let go before the next is taken;
// no thread waits for the end of a stop (the handler, the barrier, a thread
// start) and no frozen verdicts are made. The protocol (coordinator.cpp)
// asks torn_mode() at those few places and otherwise never sees it.
#pragma once

#include <cstdint>

#include "preload/config.h"

namespace threadsnap::detail {

// Any context.
inline bool torn_mode() { return g_config.test_torn; }

// Waits until the first n members of the signalled list have captured
// themselves (or timed out): the coordinator's wait of stop 1.
using WaitSignalled = void (*)(uint32_t n, uint32_t gen, uint64_t start_ns);

// Signals the record indices of `signalled` one at a time, waiting for each
// (wait_first) and then 300 us for the world to move, before the next. The
// dumper's stop path, in tests only.
void torn_capture(const uint32_t* signalled, uint32_t count, uint32_t gen, uint64_t start_ns,
                  WaitSignalled wait_first);

}  // namespace threadsnap::detail
