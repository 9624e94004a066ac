// threadsnap: the claim of a thread by a dump, the heart of the snapshot
// protocol (DESIGN.md): whoever moves a member's `claimed` from below G to G
// captures it into its slot and then sets `done` to G.
//
// For dump G a record's claim is, as a goroutine's in Go's
// goroutineProfileWithLabelsConcurrent, in one of three states:
//   absent       claimed before G
//   in progress  claimed == G, done before G: the claimer writes the slot
//   satisfied    claimed == done == G: the slot holds G's capture
// Only the claimer writes the slot and `done`, so `done` only moves forward.
// A claim its claimer never finished (the thread was preempted or stopped,
// or a program's handler ran or jumped away between claim and done) stays
// in progress: the dump that gave up on it lists the thread from its record
// (abandon), and so must every later dump until the claimer finishes, for
// the claimer may still write the slot and `done`.
//
// Any context, all of it: atomics and futex waits on the record's own words.
#pragma once

#include <cstdint>

#include "base/check.h"
#include "preload/registry.h"

namespace threadsnap::detail {

// Generation order, across the wrap of the 32-bit counter.
inline bool before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }

// Whether r existed at dump gen's stop 1 (registered before it began).
inline bool is_member(const Record* r, uint32_t gen) { return before(r->born_gen, gen); }

enum class Claim {
  kOurs,        // was absent for gen: the caller captures, then finish_claim(r, gen)
  kTaken,       // in progress or satisfied for gen by another claimer
  kUnfinished,  // an earlier dump's claim is still in progress: not claimable
};

inline Claim try_claim(Record* r, uint32_t gen) {
  uint32_t c = r->claimed.load(std::memory_order_seq_cst);
  if (!before(c, gen)) return Claim::kTaken;
  // done only moves forward, to the claimed generation: before `c` means
  // c's claimer has not finished.
  if (before(r->done.load(std::memory_order_seq_cst), c)) return Claim::kUnfinished;
  return r->claimed.compare_exchange_strong(c, gen, std::memory_order_seq_cst) ? Claim::kOurs
                                                                              : Claim::kTaken;
}

inline bool claim(Record* r, uint32_t gen) { return try_claim(r, gen) == Claim::kOurs; }

// Whether an earlier dump's claim on r is still in progress.
inline bool earlier_claim_unfinished(const Record* r, uint32_t gen) {
  uint32_t c = r->claimed.load(std::memory_order_seq_cst);
  return before(c, gen) && before(r->done.load(std::memory_order_seq_cst), c);
}

// The claimer of gen, once its capture is in the slot: satisfied. Wakes the
// threads waiting for it (wait_done).
inline void finish_claim(Record* r, uint32_t gen) {
  // Only the claimer of gen finishes it, and nobody claims a later
  // generation before it has (try_claim): `claimed` is still gen.
  TS_DCHECK(r->claimed.load(std::memory_order_relaxed) == gen);
  r->done.store(gen, std::memory_order_seq_cst);
  if (r->done_waiters.load(std::memory_order_seq_cst)) futex_wake_all(&r->done);
}

// Dump gen gives r up: it lists the thread from its record and neither
// reads nor writes its slot. Written by the dumper only.
inline void abandon(Record* r, uint32_t gen) {
  r->abandoned_gen.store(gen, std::memory_order_seq_cst);
}
inline bool abandoned(const Record* r, uint32_t gen) {
  return r->abandoned_gen.load(std::memory_order_seq_cst) == gen;
}

// How often wait_done looks whether the claim it waits for was given up.
inline constexpr long kGivenUpPollNs = 20000000;

// Waits until r's claim of gen is satisfied (a thread whose own claim the
// dumper holds while it copies the thread's stack: a stack copy long).
// Returns false if a dump gave that claim up instead (abandon, at gen or at
// a later dump that found it still open): its claimer may never finish it
// (a claim whose claimer a program's handler jumped out of before it could
// mark it as its own). Given-up claims are seen within kGivenUpPollNs: no
// wake-up comes for them, the word waited on does not change.
inline bool wait_done(Record* r, uint32_t gen) {
  bool satisfied = true;
  r->done_waiters.fetch_add(1, std::memory_order_seq_cst);
  for (;;) {
    uint32_t d = r->done.load(std::memory_order_seq_cst);
    if (!before(d, gen)) break;
    if (!before(r->abandoned_gen.load(std::memory_order_seq_cst), gen)) {
      satisfied = false;
      break;
    }
    timespec poll = {0, kGivenUpPollNs};
    futex_wait(&r->done, d, &poll);
  }
  r->done_waiters.fetch_sub(1, std::memory_order_seq_cst);
  return satisfied;
}

}  // namespace threadsnap::detail
