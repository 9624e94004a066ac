// threadsnap: pause and sleep, tracked blocking calls with hand-written
// wrappers (they have no row in base/calls.def only because their ids and
// names are listed as special calls). They return exactly what the real
// call returns: a handled signal ends them early, as without the library.
// threadsnap's trigger is taken by its own dumper thread; a trigger sent by
// hand (kill -USR2) is process-directed and, like any handled signal, may
// end a pause or sleep of the thread it lands on (README, "Known
// limitations"). Restarting them when the trigger handler had run lost
// time (sleep's remaining seconds are whole) and swallowed the program's
// own signal when both landed in the same wake-up.
#include <unistd.h>

#include <atomic>

#include "preload/common.h"
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
  if (TS_PASS_THROUGH(self)) return fn();
  BlockScope scope(self, kCall_pause, 0, 0);
  int result = fn();
  int saved_errno = errno;
  scope.leave();
  errno = saved_errno;
  return result;
}

TS_EXPORT unsigned int sleep(unsigned int seconds) {
  auto fn = real_fn(g_real_sleep, "sleep");
  Record* self = t_self;
  if (TS_PASS_THROUGH(self)) return fn(seconds);
  BlockScope scope(self, kCall_sleep, 0, 0);
  unsigned left = fn(seconds);
  int saved_errno = errno;
  scope.leave();
  errno = saved_errno;
  return left;
}
