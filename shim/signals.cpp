// threadsnap: sigaction and signal. The trigger signal belongs to the
// program as soon as it installs its own handler: threadsnap steps aside and
// says so once. Queries and other signals pass straight through.
#include <signal.h>

#include <atomic>

#include "preload/common.h"
#include "preload/entry.h"
#include "shim/calls.h"

using namespace threadsnap::detail;

namespace {
using sigaction_fn = int (*)(int, const struct sigaction*, struct sigaction*);
using signal_fn = sighandler_t (*)(int, sighandler_t);
std::atomic<sigaction_fn> g_real_sigaction{nullptr};
std::atomic<signal_fn> g_real_signal{nullptr};

bool installs_handler(const struct sigaction* act) {
  if (!act) return false;
  if (act->sa_flags & SA_SIGINFO) return act->sa_sigaction != nullptr;
  return act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN;
}
}  // namespace

namespace threadsnap::detail {
int real_sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  return real_fn(g_real_sigaction, "sigaction")(sig, act, old);
}
}  // namespace threadsnap::detail

TS_EXPORT int sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept {
  if (act && sig > 0 && (sig == g_trigger_signal.load(std::memory_order_relaxed) ||
                         (sig == g_stop_signal && installs_handler(act))))
    signal_taken_by_program(sig);
  return real_sigaction(sig, act, old);
}

TS_EXPORT sighandler_t signal(int sig, sighandler_t handler) noexcept {
  signal_fn fn = real_fn(g_real_signal, "signal");
  if (sig > 0 && (sig == g_trigger_signal.load(std::memory_order_relaxed) ||
                  (sig == g_stop_signal && handler != SIG_DFL && handler != SIG_IGN)))
    signal_taken_by_program(sig);
  return fn(sig, handler);
}
