// threadsnap: pause and sleep, which return as soon as any handled signal
// arrives. The trigger signal is process-directed and the kernel prefers the
// main thread, which is often exactly in pause() or sleep(): without this, a
// dump would end those waits early. When the trigger handler was the one
// that ran during the wait, the wait goes on (sleep for its remaining time).
// Other waits that a signal ends with EINTR are listed in the README.
#include <unistd.h>

#include <atomic>

#include "preload/common.h"
#include "preload/entry.h"
#include "shim/block_scope.h"
#include "shim/calls.h"

using namespace threadsnap::detail;

namespace {
using pause_fn = int (*)();
using sleep_fn = unsigned (*)(unsigned);
std::atomic<pause_fn> g_real_pause{nullptr};
std::atomic<sleep_fn> g_real_sleep{nullptr};

}  // namespace

TS_EXPORT int pause() {
  auto fn = real_fn(g_real_pause, "pause");
  Record* self = t_self;
  if (!self || t_depth) return fn();
  BlockScope scope(self, kCall_pause, 0, 0);
  int result;
  for (;;) {
    unsigned hits = t_trigger_hits;
    result = fn();
    if (!(result == -1 && errno == EINTR && t_trigger_hits != hits)) break;
  }
  int saved_errno = errno;
  scope.leave();
  errno = saved_errno;
  return result;
}

TS_EXPORT unsigned int sleep(unsigned int seconds) {
  auto fn = real_fn(g_real_sleep, "sleep");
  Record* self = t_self;
  if (!self || t_depth) return fn(seconds);
  BlockScope scope(self, kCall_sleep, 0, 0);
  unsigned left = seconds;
  for (;;) {
    unsigned hits = t_trigger_hits;
    left = fn(left);
    if (!(left > 0 && t_trigger_hits != hits)) break;
  }
  int saved_errno = errno;
  scope.leave();
  errno = saved_errno;
  return left;
}
