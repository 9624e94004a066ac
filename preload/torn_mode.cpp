// threadsnap: the torn capture mode, for tests only; see torn_mode.h.
#include "preload/torn_mode.h"

#include <sys/syscall.h>

#include "preload/entry.h"
#include "preload/registry.h"

namespace threadsnap::detail {

void torn_capture(const uint32_t* signalled, uint32_t count, uint32_t gen, uint64_t start_ns,
                  WaitSignalled wait_first) {
  pid_t pid = raw_getpid();
  for (uint32_t i = 0; i < count; ++i) {
    Record* r = record_at(signalled[i]);
    raw_tgkill(pid, r->tid.load(std::memory_order_relaxed), g_stop_signal);
    wait_first(i + 1, gen, start_ns);
    timespec gap = {0, 300000};  // let the world move between two captures
    raw_syscall(SYS_nanosleep, reinterpret_cast<long>(&gap), 0);
  }
}

}  // namespace threadsnap::detail
