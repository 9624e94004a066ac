// threadsnap: the words the snapshot protocol shares between wrappers, signal
// handlers and the dumper (DESIGN.md, "The snapshot protocol"), each with
// what it means, who writes it and how long it holds. The code that moves
// them is preload/coordinator.cpp; the records they index, preload/registry.h.
//
// The extents of the flags that say a dump is under way, on one timeline
// (G = the dump's generation; concurrent mode):
//
//   dump_begin | stop 1          | sweep | stop 2 | unwind, write | release_zombies | dump_end
//   g_dump_running 1 ...................................................................... 0
//   g_busy                1 .............................................. 0
//   g_active              1 ........................ 0
//   g_release < G ......... = G (stop 1 ends: signalled threads go on)
//
// In `stw` the one stop lasts past the unwinding: g_active is cleared just
// before g_release = G.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/call_ids.h"
#include "preload/process_local.h"

namespace threadsnap::detail {

// --- the state word of each thread -------------------------------------------
// One word per record index in the dense array g_state, so that stop 1 scans
// 4 bytes a thread: the kind in the low 7 bits, the wrapped call above the
// low byte.
// Written only by the thread itself (and by registration and release under
// the registry lock), with seq_cst stores: with the dumper's seq_cst publish
// of g_gen/g_active it is a Dekker pair (a thread that announces kRunning
// and then reads g_active == 0 was seen running by any stop 1 that follows;
// one that reads 1 passes the barrier).
// Bit 7 of a blocked thread's word says that its call waits for a lock
// whose owner stop 1 reads at the cut (is_lock_kind): the walk learns it
// from the word it reads anyway, four threads at a time.
enum Kind : uint32_t { kFree = 0, kRunning = 1, kBlocked = 2, kStarting = 3 };
inline constexpr uint32_t kLockWaitBit = 0x80;
inline constexpr uint32_t state_word(Kind k, uint32_t call = 0) {
  return k | (call << 8) | (k == kBlocked && is_lock_kind(call_kind(call)) ? kLockWaitBit : 0);
}
inline constexpr Kind state_kind(uint32_t w) { return static_cast<Kind>(w & 0x7f); }
inline constexpr uint32_t state_call(uint32_t w) { return w >> 8; }
static_assert(state_kind(state_word(kBlocked, kCall_pthread_mutex_lock)) == kBlocked &&
              (state_word(kBlocked, kCall_pthread_mutex_lock) & kLockWaitBit) &&
              !(state_word(kBlocked, kCall_pthread_cond_wait) & kLockWaitBit));

// Per record index: the state word, and the wait object of a blocked thread
// (written by the thread before it publishes kBlocked; read by stop 1 for the
// lock waiters' owners).
inline constexpr auto& g_state = g_local.state;
inline constexpr auto& g_obj = g_local.obj;

// --- the flags of a dump --------------------------------------------------------

// Generation of the latest dump (never 0 once a dump has begun). Written by
// the dumper under the registry lock at stop 1, before g_active; read by
// everyone. Kept across fork (records' born_gen are compared with it).
extern std::atomic<uint32_t> g_gen;

// 1 from stop 1 until stop 2 of the current dump: while it is set, a thread
// leaving a wrapped call passes the barrier and our stop signal's handler
// captures. Written by the dumper (seq_cst, the Dekker side of g_state);
// zero in a fork child.
inline constexpr auto& g_active = g_local.active;

// The generation whose stop 1 has ended: signalled threads wait in the
// handler (and threads in the barrier after their capture) until it reaches
// their G. Written by the dumper at the end of stop 1 (`stw`: of the one
// stop); g_release_waiters counts the sleepers, so the dumper wakes the
// futex only when someone sleeps on it.
extern std::atomic<uint32_t> g_release;
extern std::atomic<uint32_t> g_release_waiters;

// Bumped by every capture a thread completes for itself (handler, barrier,
// thread start): the dumper sleeps on it while it waits for the signalled
// threads in stop 1 and for the self-captures at the end of the sweep.
extern std::atomic<uint32_t> g_arrivals;

// 1 from stop 1 until the dump's zombies are released (after it is written):
// a member released meanwhile stays a zombie, its record and slot still read
// by the dump. Written by the dumper under the registry lock; zero in a fork
// child.
inline constexpr auto& g_busy = g_local.busy;

// g_dump_running (preload/entry.cpp, dump_begin/dump_end): 1 for the whole
// dump; the gate that fork and a move of the stop signal wait at.

}  // namespace threadsnap::detail
