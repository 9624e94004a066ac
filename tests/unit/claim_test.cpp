// Unit tests of the claim (preload/claim.h): a record's claim for a dump is
// absent, in progress or satisfied; exactly one claimer wins; nobody claims
// a thread whose earlier claim is unfinished; a waiter returns only once the
// claim is satisfied; generations wrap.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "preload/claim.h"
#include "preload/registry.h"

using namespace threadsnap::detail;

namespace {

// A record of its own for each test, born in generation `born`.
struct OwnRecord {
  explicit OwnRecord(uint32_t born = 0) {
    g_registry_lock.lock();
    r = registry_add(kRunning, false);
    g_registry_lock.unlock();
    if (!r) return;
    // As registry_add sets them for a record born at `born`.
    r->born_gen = born;
    r->claimed.store(born);
    r->done.store(born);
    r->abandoned_gen.store(born);
    r->frozen_gen.store(born);
  }
  ~OwnRecord() {
    g_registry_lock.lock();
    registry_release(r);
    g_registry_lock.unlock();
  }
  Record* r = nullptr;
};

TEST(Claim, AbsentInProgressSatisfied) {
  OwnRecord o;
  ASSERT_NE(o.r, nullptr);
  Record* r = o.r;
  EXPECT_EQ(try_claim(r, 5), Claim::kOurs);         // absent -> in progress
  EXPECT_EQ(try_claim(r, 5), Claim::kTaken);        // a second claimer of 5
  EXPECT_EQ(r->claimed.load(), 5u);
  EXPECT_TRUE(before(r->done.load(), 5));
  finish_claim(r, 5);                               // -> satisfied
  EXPECT_EQ(r->done.load(), 5u);
  EXPECT_EQ(try_claim(r, 5), Claim::kTaken);        // satisfied stays so
  EXPECT_EQ(try_claim(r, 6), Claim::kOurs);         // the next dump claims it anew
  finish_claim(r, 6);
}

// The race of issue 14: dump 5 gave up a claim its claimer never finished.
// Dump 6 must not take it (the late claimer would overwrite dump 6's capture
// and move done back to 5); once the claimer finishes, dump 6 or 7 may.
TEST(Claim, AnUnfinishedEarlierClaimIsNotClaimable) {
  OwnRecord o;
  ASSERT_NE(o.r, nullptr);
  Record* r = o.r;
  ASSERT_EQ(try_claim(r, 5), Claim::kOurs);
  EXPECT_TRUE(earlier_claim_unfinished(r, 6));
  EXPECT_FALSE(earlier_claim_unfinished(r, 5)) << "5's own claim is in progress, not earlier";
  EXPECT_EQ(try_claim(r, 6), Claim::kUnfinished);
  EXPECT_EQ(try_claim(r, 7), Claim::kUnfinished);
  EXPECT_EQ(r->claimed.load(), 5u) << "a refused claim moved `claimed`";
  finish_claim(r, 5);  // the late claimer finishes
  EXPECT_FALSE(earlier_claim_unfinished(r, 7));
  EXPECT_EQ(try_claim(r, 7), Claim::kOurs);
  finish_claim(r, 7);
  EXPECT_EQ(r->done.load(), 7u);
}

TEST(Claim, ExactlyOneOfManyClaimersWins) {
  for (uint32_t gen = 1; gen <= 50; ++gen) {
    OwnRecord o;
    ASSERT_NE(o.r, nullptr);
    std::atomic<int> go{0}, ours{0}, taken{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; ++i)
      ts.emplace_back([&] {
        while (!go.load()) {
        }
        Claim c = try_claim(o.r, gen);
        if (c == Claim::kOurs) ours.fetch_add(1);
        if (c == Claim::kTaken) taken.fetch_add(1);
      });
    go.store(1);
    for (auto& t : ts) t.join();
    EXPECT_EQ(ours.load(), 1) << "gen " << gen;
    EXPECT_EQ(taken.load(), 3) << "gen " << gen;
    finish_claim(o.r, gen);
  }
}

// A thread whose claim another holds waits (wait_done) until it is
// satisfied, not before, and is woken when it is.
TEST(Claim, WaitDoneReturnsOnlyOnceTheClaimIsSatisfied) {
  OwnRecord o;
  ASSERT_NE(o.r, nullptr);
  Record* r = o.r;
  ASSERT_EQ(try_claim(r, 3), Claim::kOurs);
  std::atomic<int> returned{0};
  std::thread waiter([&] {
    wait_done(r, 3);
    returned.store(1);
  });
  // The waiter announces itself before it sleeps on `done`.
  while (r->done_waiters.load() == 0) std::this_thread::yield();
  EXPECT_EQ(returned.load(), 0) << "wait_done returned before the claim was satisfied";
  finish_claim(r, 3);
  waiter.join();
  EXPECT_EQ(returned.load(), 1);
  EXPECT_EQ(r->done_waiters.load(), 0u);
  // Satisfied already: no wait at all.
  EXPECT_TRUE(wait_done(r, 3));
}

// A claim whose claimer never finishes it (a program's handler jumped out
// between the claim and its marking as the thread's own): the waiter, the
// thread itself leaving its next call, returns once a dump gives the claim
// up, at that dump or at a later one that finds it still open, instead of
// waiting for ever.
TEST(Claim, WaitDoneReturnsFalseOnceTheClaimIsGivenUp) {
  for (uint32_t given_up_at : {5u, 6u}) {
    OwnRecord o;
    ASSERT_NE(o.r, nullptr);
    Record* r = o.r;
    ASSERT_EQ(try_claim(r, 5), Claim::kOurs);
    abandon(r, 4);  // an earlier dump's: not this claim
    std::atomic<int> result{-1};
    std::thread waiter([&] { result.store(wait_done(r, 5) ? 1 : 0); });
    while (r->done_waiters.load() == 0) std::this_thread::yield();
    EXPECT_EQ(result.load(), -1) << "wait_done returned before the claim was given up";
    abandon(r, given_up_at);
    waiter.join();
    EXPECT_EQ(result.load(), 0) << "given up at " << given_up_at;
    EXPECT_EQ(r->done_waiters.load(), 0u);
    // Finished after all: satisfied.
    finish_claim(r, 5);
    EXPECT_TRUE(wait_done(r, 5));
  }
}

// The generation counter wraps (take_dump skips 0): order holds across it.
TEST(Claim, GenerationsWrap) {
  EXPECT_TRUE(before(0xfffffffeu, 0xffffffffu));
  EXPECT_TRUE(before(0xffffffffu, 1u));
  EXPECT_FALSE(before(1u, 0xffffffffu));
  EXPECT_FALSE(before(7u, 7u));
  OwnRecord o(0xfffffff0u);
  ASSERT_NE(o.r, nullptr);
  Record* r = o.r;
  r->claimed.store(0xffffffffu);
  r->done.store(0xffffffffu);
  EXPECT_TRUE(is_member(r, 1));
  EXPECT_EQ(try_claim(r, 1), Claim::kOurs);
  EXPECT_TRUE(earlier_claim_unfinished(r, 2));
  finish_claim(r, 1);
  EXPECT_FALSE(earlier_claim_unfinished(r, 2));
}

TEST(Claim, MembersAreThreadsBornBeforeTheDump) {
  OwnRecord o(10);
  ASSERT_NE(o.r, nullptr);
  EXPECT_TRUE(is_member(o.r, 11));
  EXPECT_FALSE(is_member(o.r, 10)) << "born during dump 10: not one of its members";
  EXPECT_FALSE(is_member(o.r, 9));
}

TEST(Claim, AbandonIsPerDump) {
  OwnRecord o;
  ASSERT_NE(o.r, nullptr);
  abandon(o.r, 8);
  EXPECT_TRUE(abandoned(o.r, 8));
  EXPECT_FALSE(abandoned(o.r, 9));
}

}  // namespace
