// threadsnap: who holds what; see owners.h.
#include "preload/owners.h"

#include <pthread.h>

#include <cstring>

#include "base/call_ids.h"
#include "base/small_file.h"
#include "preload/claim.h"

namespace threadsnap::detail {

namespace {

// Per lock waiter of the current dump: the owner read at the cut, with the
// mutex type in the top two bits.
constexpr auto& g_lock_owner = g_local.lock_owner;

// Whether the thread of c is still in the wait c recorded, asleep (state S
// in /proc/self/task/TID/stat), rather than just past a lock it has taken.
bool still_asleep_in(const Record* r, uint32_t index, const Capture* c) {
  uint32_t w = g_state[index].load(std::memory_order_acquire);
  if (state_kind(w) != kBlocked || state_call(w) != c->call || call_detail(r).since_ns != c->since_ns)
    return false;
  Line path;
  path.s("/proc/self/task/").u(static_cast<uint64_t>(c->tid)).s("/stat");
  char buf[512];
  if (read_small_file(path.data(), buf, sizeof(buf)) <= 0) return false;
  const char* p = strrchr(buf, ')');  // the name may hold spaces and parentheses
  return p && p[1] == ' ' && p[2] == 'S';
}

// pthread_t -> tid of the members, for pthread_join's owner.
pid_t tid_of_pthread(const uint32_t* members, uint32_t count, uintptr_t pt) {
  for (uint32_t i = 0; i < count; ++i) {
    Record* r = record_at(members[i]);
    if (!r->foreign && r->pthread == pt) return r->tid.load(std::memory_order_relaxed);
  }
  return 0;
}

}  // namespace

// A hint: glibc clears __owner briefly right after it takes a mutex.
void owners_read_at_cut(const uint32_t* waiters, const uint32_t* calls, uint32_t count) {
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t idx = waiters[i];
    // The call seen by the walk, not the state word now: a waiter that got
    // its lock during the stop is "running" by now, and its rwlock would be
    // read as a mutex. Its g_obj stays: leaving the wrapper, it waits in
    // the barrier for the end of this stop.
    uint32_t call = calls[i];
    uintptr_t obj = g_obj[idx].load(std::memory_order_relaxed);
    if (call_kind(call) == kWait_rwlock) {
      auto* l = reinterpret_cast<volatile pthread_rwlock_t*>(obj);
      g_lock_owner[i] = l->__data.__cur_writer & 0x3fffffff;
      continue;
    }
    auto* m = reinterpret_cast<volatile pthread_mutex_t*>(obj);
    int kind = m->__data.__kind;
    // PI and robust mutexes keep the owner's tid in the lock word.
    uint32_t owner = (kind & (16 | 32)) ? (m->__data.__lock & 0x3fffffff)
                                        : (static_cast<uint32_t>(m->__data.__owner) & 0x3fffffff);
    g_lock_owner[i] = owner | (static_cast<uint32_t>(kind & 3) << 30);
  }
}

// A recursive or error-checking mutex never blocks its owner (it counts or
// returns EDEADLK): an owner equal to the waiter is no deadlock there.
void owners_apply(const uint32_t* waiters, uint32_t count, uint32_t gen) {
  for (uint32_t i = 0; i < count; ++i) {
    Record* r = record_at(waiters[i]);
    // An abandoned claim's slot may still be written by its claimer.
    if (abandoned(r, gen)) continue;
    Capture* c = slot_at(r->index);
    uint32_t type = g_lock_owner[i] >> 30;
    pid_t owner = static_cast<pid_t>(g_lock_owner[i] & 0x3fffffff);
    if ((type == PTHREAD_MUTEX_RECURSIVE || type == PTHREAD_MUTEX_ERRORCHECK) &&
        owner == r->tid.load(std::memory_order_relaxed))
      owner = 0;
    c->owner = owner;
    c->owner_gen = gen;
  }
}

pid_t owner_for_dump(const Record* r, uint32_t index, const Capture* c, const uint32_t* members,
                     uint32_t count) {
  if (call_kind(c->call) == kWait_thread) return tid_of_pthread(members, count, c->obj);
  // Lock waits: the owner read at this dump's cut (a slot may still hold
  // what an earlier dump read).
  if (!is_lock_kind(call_kind(c->call)) || c->owner_gen != c->gen) return 0;
  pid_t owner = c->owner;
  // Owner == waiter: a real self-deadlock, or a thread whose lock call had
  // just succeeded at the cut (still inside the wrapper). Only the first is
  // still in the same wait now, asleep in the kernel.
  if (owner == c->tid && !still_asleep_in(r, index, c)) owner = 0;
  return owner;
}

}  // namespace threadsnap::detail
