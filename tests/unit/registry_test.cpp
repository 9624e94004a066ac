// Unit tests of the registry: records, slots, and the rule that a record a
// dump still reads is not reused until the dump ends.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <vector>

#include "preload/common.h"
#include "preload/config.h"
#include "preload/coordinator.h"
#include "preload/registry.h"
#include "base/call_ids.h"

using namespace threadsnap::detail;

namespace {

Record* add() {
  g_registry_lock.lock();
  Record* r = registry_add(kRunning, false);
  g_registry_lock.unlock();
  return r;
}
void release(Record* r) {
  g_registry_lock.lock();
  registry_release(r);
  g_registry_lock.unlock();
}

// Every record's slot (its Capture and frames) and stack copy are memory of
// their own: no two of them share a byte, over more than one chunk.
TEST(Registry, IndicesAreDistinctAndSlotsDoNotOverlap) {
  std::vector<Record*> rs;
  std::set<uint32_t> seen;
  for (int i = 0; i < 600; ++i) {  // more than one chunk
    Record* r = add();
    ASSERT_NE(r, nullptr);
    EXPECT_TRUE(seen.insert(r->index).second);
    EXPECT_EQ(state_kind(g_state[r->index].load()), kRunning);
    rs.push_back(r);
  }
  std::vector<std::pair<uintptr_t, uintptr_t>> spans;  // [begin, end)
  for (Record* r : rs) {
    auto slot = reinterpret_cast<uintptr_t>(slot_at(r->index));
    spans.push_back({slot, slot + sizeof(Capture) + slot_frames_capacity() * sizeof(uintptr_t)});
    auto bytes = reinterpret_cast<uintptr_t>(slot_bytes(r->index));
    spans.push_back({bytes, bytes + slot_stack_capacity()});
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    EXPECT_LE(spans[i - 1].second, spans[i].first) << "span " << i << " overlaps the one before";
  for (Record* r : rs) release(r);
}

// The slots were sized at start-up from the loaded configuration, before
// any record (registry_configure): a slot holds the whole stack copy the
// configuration asks for, and the frames (8 more than are kept: ours are
// dropped after unwinding).
TEST(Registry, SlotsHoldTheConfiguredStackCopyAndFrames) {
  ASSERT_GT(g_config.stack_copy_bytes, 0u);
  EXPECT_EQ(slot_stack_capacity(), g_config.stack_copy_bytes);
  EXPECT_EQ(slot_frames_capacity(),
            std::min(static_cast<uint32_t>(g_config.max_frames) + 8, static_cast<uint32_t>(kMaxFramesLimit)));
  Record* r = add();
  ASSERT_NE(r, nullptr);
  // Written whole without a fault (the mapping is there, and ours).
  memset(slot_bytes(r->index), 0xa5, slot_stack_capacity());
  memset(slot_at(r->index)->frames, 0x5a, slot_frames_capacity() * sizeof(uintptr_t));
  EXPECT_EQ(slot_bytes(r->index)[slot_stack_capacity() - 1], 0xa5);
  release(r);
}

TEST(Registry, ReleasedIndexIsReused) {
  Record* a = add();
  uint32_t idx = a->index;
  release(a);
  EXPECT_EQ(state_kind(g_state[idx].load()), kFree);
  Record* b = add();
  EXPECT_EQ(b->index, idx);
  release(b);
}

TEST(Registry, MemberReleasedDuringADumpIsNotReusedUntilItEnds) {
  Record* a = add();
  uint32_t idx = a->index;
  // A dump begins after `a` was born.
  g_gen.store(g_gen.load() + 1);
  g_busy.store(1);
  release(a);
  EXPECT_TRUE(a->zombie);
  Record* b = add();
  EXPECT_NE(b->index, idx) << "a slot the dump still reads was handed out";
  registry_release_zombies();
  EXPECT_EQ(g_busy.load(), 0u);
  Record* c = add();
  EXPECT_TRUE(c->index == idx || b->index == idx);
  release(b);
  release(c);
}

TEST(Registry, ThreadBornDuringADumpIsNotAMember) {
  g_gen.store(g_gen.load() + 1);
  Record* r = add();
  EXPECT_FALSE(static_cast<int32_t>(r->born_gen - g_gen.load()) < 0);
  release(r);
}

TEST(Calls, NamesFollowTheTable) {
  EXPECT_STREQ(call_name(kCall_pthread_mutex_lock), "pthread_mutex_lock");
  EXPECT_STREQ(call_name(kCall_pthread_cond_wait), "pthread_cond_wait");
  EXPECT_STREQ(call_name(kCall_epoll_wait), "epoll_wait");
  EXPECT_STREQ(call_name(kCall_syscall), "syscall");
  EXPECT_STREQ(call_name(kCall_pause), "pause");
  EXPECT_STREQ(call_name(kCallCount + 5), "unknown");
  for (uint32_t i = 1; i < kCallCount; ++i) EXPECT_NE(std::string(call_name(i)), "unknown");
}

// The kind column of base/calls.def is the one source: owner detection at
// the cut covers exactly the mutex and rwlock waits, pthread_join is a wait
// for a thread, and every call has a kind the dump can name.
TEST(Calls, KindsFollowTheTable) {
  EXPECT_EQ(call_kind(kCall_pthread_mutex_clocklock), kWait_mutex);
  EXPECT_EQ(call_kind(kCall_pthread_rwlock_clockwrlock), kWait_rwlock);
  EXPECT_EQ(call_kind(kCall_pthread_cond_timedwait), kWait_condvar);
  EXPECT_EQ(call_kind(kCall_pthread_join), kWait_thread);
  EXPECT_EQ(call_kind(kCall_waitpid), kWait_child);
  EXPECT_EQ(call_kind(kCall_syscall), kWait_futex);
  EXPECT_EQ(call_kind(kCall_sleep), kWait_sleep);
  EXPECT_EQ(call_kind(kCallCount + 5), kWaitNone);
  EXPECT_STREQ(wait_kind_name(kWait_mutex), "mutex");
  EXPECT_STREQ(wait_kind_name(kWait_child), "child");
  for (uint32_t i = 1; i < kCallCount; ++i) {
    std::string name = call_name(i);
    SCOPED_TRACE(name);
    EXPECT_NE(call_kind(i), kWaitNone);
    EXPECT_STRNE(wait_kind_name(call_kind(i)), "none");
    bool lock_named = name.find("_mutex_") != std::string::npos ||
                      name.find("_rwlock_") != std::string::npos;
    EXPECT_EQ(is_lock_call(i), lock_named);
  }
}

TEST(Line, Formats) {
  Line l;
  l.s("a=").u(0).c(' ').u(18446744073709551615ull).c(' ').x(0).c(' ').x(0xdeadbeef).c(' ').i(-42);
  EXPECT_STREQ(l.data(), "a=0 18446744073709551615 0x0 0xdeadbeef -42");
}

}  // namespace
