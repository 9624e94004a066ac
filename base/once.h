// threadsnap (base layer): run an initializer once, and let nobody past it
// until it has run.
//
// A caller on another thread while the initializer runs waits for it (a
// futex wait, bounded: see run()); the thread running it returns at once if
// it re-enters (the initializer may reach our own wrappers). Without the
// wait a second thread went on with half a configuration (issue 14,
// section 6: a slot size computed from a zero stack-copy size).
// Ordinary context: the waiter sleeps; not for signal handlers.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/raw.h"

namespace threadsnap::detail {

class InitOnce {
 public:
  // Runs f() unless it has run. Returns true when f() has completed, false
  // when the caller is the thread running f() (re-entry) or gave up waiting
  // after `max_wait_ns` (a thread that holds a lock f() needs would wait
  // forever: the caller then goes on without it, as the code after an
  // unfinished init must allow).
  template <typename F>
  bool run(F f, uint64_t max_wait_ns = 1000000000ull) {
    if (TS_LIKELY(state_.load(std::memory_order_acquire) == kDone)) return true;
    pid_t self = raw_gettid();
    uint32_t expected = kNone;
    if (state_.compare_exchange_strong(expected, kRunning, std::memory_order_acq_rel)) {
      owner_.store(self, std::memory_order_relaxed);
      f();
      state_.store(kDone, std::memory_order_release);
      futex_wake_all(&state_);
      return true;
    }
    if (owner_.load(std::memory_order_relaxed) == self) return false;
    uint64_t deadline = now_ns() + max_wait_ns;
    for (uint32_t s; (s = state_.load(std::memory_order_acquire)) != kDone;) {
      uint64_t now = now_ns();
      if (now >= deadline) return false;
      uint64_t left = deadline - now;
      timespec ts = {static_cast<time_t>(left / 1000000000ull), static_cast<long>(left % 1000000000ull)};
      futex_wait(&state_, s, &ts);
    }
    return true;
  }
  bool done() const { return state_.load(std::memory_order_acquire) == kDone; }

 private:
  static constexpr uint32_t kNone = 0, kRunning = 1, kDone = 2;
  std::atomic<uint32_t> state_{kNone};
  std::atomic<pid_t> owner_{0};
};

}  // namespace threadsnap::detail
