// Unit tests of InitOnce (base/once.h), the start-up order of issue 14,
// section 6: a thread that asks for the library while another thread is
// still initializing it waits until that is done, instead of going on with
// half a configuration; the initializing thread itself may re-enter.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "base/once.h"

using namespace threadsnap::detail;

namespace {

TEST(InitOnce, AnotherThreadWaitsUntilTheInitializerHasRun) {
  InitOnce once;
  std::atomic<bool> release{false}, started{false};
  std::atomic<int> config{0}, seen_by_other{-1};
  std::thread init([&] {
    once.run([&] {
      started = true;
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      config = 64;  // what the others must see once run() returns
    });
  });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::thread other([&] {
    EXPECT_TRUE(once.run([] { ADD_FAILURE() << "ran twice"; }));
    seen_by_other = config.load();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(seen_by_other.load(), -1) << "run() returned while the initializer was running";
  release = true;
  init.join();
  other.join();
  EXPECT_EQ(seen_by_other.load(), 64);
  EXPECT_TRUE(once.done());
}

TEST(InitOnce, TheInitializingThreadMayReenter) {
  InitOnce once;
  bool inner_returned = false, inner_result = true;
  EXPECT_TRUE(once.run([&] {
    inner_result = once.run([] { ADD_FAILURE() << "ran inside itself"; });
    inner_returned = true;
  }));
  EXPECT_TRUE(inner_returned);
  EXPECT_FALSE(inner_result) << "a re-entry must say the init is not complete";
}

TEST(InitOnce, AWaiterGivesUpAfterItsBound) {
  InitOnce once;
  std::atomic<bool> release{false}, started{false};
  std::thread init([&] {
    once.run([&] {
      started = true;
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
  });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(once.run([] {}, 20 * 1000 * 1000ull));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(20));
  release = true;
  init.join();
}

}  // namespace
