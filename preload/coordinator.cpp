// threadsnap: the snapshot protocol (DESIGN.md, "The snapshot protocol").
//
// A dump has a generation G. Whoever moves a member's `claimed` from below G
// to G captures it (registers + stack copy into its slot) and then sets
// `done` to G: for G, a member's claim is absent, in progress or satisfied
// (preload/claim.h), as a goroutine's is in Go's
// goroutineProfileWithLabelsConcurrent. Stop 1 publishes G and g_active, signals the threads whose
// state is running and holds them in the handler until all have recorded:
// that is the cut. Threads blocked in a wrapper are not touched: the sweep
// copies their stacks while the program runs, and a thread that leaves its
// wrapper meanwhile captures itself first (barrier_slow). Stop 2 clears
// g_active. Unwinding and writing happen after, outside any stop.
//
// The test-only torn mode (no cut) is in torn_mode.cpp.
//
// The stop-1 path (the handler, the captures, the dumper between publish and
// release) does no allocation, takes no lock an application thread could
// hold, and never calls libunwind, mimalloc or the loader.
#include "preload/coordinator.h"

#include <dirent.h>
#include <fcntl.h>
#include <emmintrin.h>
#include <sys/syscall.h>

#include <cstring>

#include "base/alloc.h"
#include "base/call_ids.h"
#include "base/check.h"
#include "preload/config.h"
#include "preload/adopt.h"
#include "preload/claim.h"
#include "preload/entry.h"
#include "preload/frames.h"
#include "preload/owners.h"
#include "preload/scheduler.h"
#include "preload/torn_mode.h"
#include "preload/wait_objects.h"
#include "preload/writer.h"
#include "unwind/stack_copy.h"
#include "unwind/modules.h"
#include "unwind/unwinder.h"

namespace threadsnap::detail {

namespace {

constexpr auto& g_members = g_local.members;  // record indices of the current dump
uint32_t g_member_count = 0;
constexpr auto& g_signalled = g_local.signalled;  // members signalled at stop 1
uint32_t g_signalled_count = 0;
constexpr auto& g_lock_waiters = g_local.lock_waiters;  // members blocked on a mutex/rwlock
constexpr auto& g_lock_waiter_calls = g_local.lock_waiter_calls;  // ...and the call each was in at the cut
constexpr auto& g_lock_owner = g_local.lock_owner;  // ...and their owners (preload/owners.cpp)
uint32_t g_lock_waiter_count = 0;
std::atomic<uint32_t> g_dumper_waiting{0};

// Set while this thread is in barrier_slow (from before its claim). Our
// stop signal may land right then (the walk saw the thread running): unless
// the handler took the claim itself, it must not wait for the end of the
// stop, since the capture it interrupted may be what the stop waits for;
// the barrier itself waits for the end of the stop afterwards.
constinit thread_local int t_in_barrier TS_TLS = 0;

// The generation this thread has claimed itself for and not yet finished
// (0: none): a jump out of its barrier finishes that claim
// (leave_own_claim), since nobody else may.
constinit thread_local uint32_t t_own_claim TS_TLS = 0;


// --- completion and waiting (Any context) -----------------------------------

void note_done(Record* r, uint32_t gen) {
  finish_claim(r, gen);
  g_arrivals.fetch_add(1, std::memory_order_seq_cst);
  if (g_dumper_waiting.load(std::memory_order_seq_cst)) futex_wake_all(&g_arrivals);
}

// The same where the dumper made the capture itself: nobody waits on
// g_arrivals but the dumper, so only the thread's own waiters are told (two
// seq_cst operations a thread fewer in a 10,000-thread sweep).
void note_done_by_dumper(Record* r, uint32_t gen) { finish_claim(r, gen); }

void wait_release(uint32_t gen) {
  g_release_waiters.fetch_add(1, std::memory_order_seq_cst);
  for (;;) {
    uint32_t v = g_release.load(std::memory_order_seq_cst);
    if (!before(v, gen)) break;
    futex_wait(&g_release, v);
  }
  g_release_waiters.fetch_sub(1, std::memory_order_seq_cst);
}

// Ends a stop: publishes gen's release, which a thread about to wait sees at
// once, then wakes the ones asleep. Returns when it was published: the end
// of the stop (the dumper may lose its CPU to the threads it wakes, while
// the program runs).
uint64_t release(uint32_t gen) {
  g_release.store(gen, std::memory_order_seq_cst);
  uint64_t t = now_ns();
  if (g_release_waiters.load(std::memory_order_seq_cst)) futex_wake_all(&g_release);
  return t;
}

// --- captures (Any context) -------------------------------------------------

void capture_header(Record* r, Capture* c, uint32_t gen, Via via, uint32_t kind, uint32_t call) {
  c->gen = gen;
  c->via = via;
  c->kind = kind;
  c->call = call;
  c->tid = r->tid.load(std::memory_order_relaxed);
  memcpy(c->name, r->name, sizeof(c->name));
  c->nframes = 0;
  c->first_pc = 0;
  c->interrupted = 0;
  c->copy_len = 0;
  c->frames_gen = gen;  // new frames (kept frames never come here)
  c->text_nframes = ~0u;  // and no kept text of them (writer.cpp), past a wrap of gen too
  if (kind == kBlocked) {
    const CallDetail& d = call_detail(r);
    c->obj = d.obj;
    c->obj2 = d.obj2;
    if (is_fd_array_wait(call)) {  // the caller's pointers: the fd, read safely
      c->obj = resolve_fd_wait(r, call);
      c->obj2 = 0;
    }
    c->since_ns = d.since_ns;
  } else {
    c->obj = c->obj2 = 0;
    c->since_ns = 0;
  }
}

// The stack of r from c->regs' sp upward into c's slot.
void copy_to_slot(const Record* r, Capture* c) {
  copy_stack(StackBounds{r->stack_lo, r->stack_hi}, c->regs[kRSP], slot_bytes(r->index),
             slot_stack_capacity(), &c->copy_base, &c->copy_len);
  TS_DCHECK(slot_stack_capacity() > 0 && c->copy_len <= slot_stack_capacity());
}

Via mode_via(Via concurrent_via) { return g_config.concurrent ? concurrent_via : kViaStw; }

void capture_from_signal(Record* r, const ucontext_t* uc, uint32_t gen) {
  Capture* c = slot_at(r->index);
  uint32_t w = g_state[r->index].load(std::memory_order_relaxed);
  Kind k = state_kind(w) == kBlocked ? kBlocked : kRunning;
  capture_header(r, c, gen, mode_via(kViaSignal), k, k == kBlocked ? call_detail(r).call : 0);
  regs_from_ucontext(c->regs, uc);
  c->interrupted = 1;
  copy_to_slot(r, c);
}

// Whether frames may be kept this dump (concurrent mode, no module list
// change since they were unwound). Set by the dumper before stop 1.
std::atomic<bool> g_keep_frames{false};

// Whether r, blocked, is still in the very call whose frames c holds: the
// same thread, call, entry time and saved registers, and c was unwound in
// its own dump. A thread that has not left a wrapped call has not run any
// code above the wrapper's frame (a signal handler runs below it, or on an
// alternate stack, and its nested wrapped calls open no scope), so the
// stack the frames came from is unchanged: the copy and the unwinding are
// skipped. The entry time is CLOCK_MONOTONIC in ns, taken on every entry.
bool same_call_as_slot(const Record* r, const Capture* c, const CallDetail& d) {
  if (c->unwound_gen != c->gen || c->kind != kBlocked || c->interrupted || c->nframes == 0)
    return false;
  if (c->tid != r->tid.load(std::memory_order_relaxed) || c->call != d.call) return false;
  if (g_config.test_reuse == kReuseBlind) return true;
  if (c->since_ns != d.since_ns) return false;
  uint64_t regs[kNumRegs];
  regs_from_saved(regs, d.regs);
  return memcmp(regs, c->regs, sizeof(regs)) == 0;
}

void capture_from_wrapper(Record* r, uint32_t gen, Via via) {
  Capture* c = slot_at(r->index);
  const CallDetail& d = call_detail(r);
  if (g_keep_frames.load(std::memory_order_relaxed) && same_call_as_slot(r, c, d)) {
    // All else is the call's and unchanged: kind, call, tid, since, the
    // wait object (an fd read from the caller's array at the first dump:
    // the kernel waits on the array as it was at entry anyway), the
    // registers, the copy and its frames.
    c->gen = gen;
    c->via = via;
    memcpy(c->name, r->name, sizeof(c->name));  // a name may change meanwhile
    c->unwound_gen = gen;
    return;
  }
  capture_header(r, c, gen, via, kBlocked, d.call);
  regs_from_saved(c->regs, d.regs);
  copy_to_slot(r, c);
}

// A thread created but not running yet: its stack is its start routine.
void capture_start(Record* r, uint32_t gen) {
  Capture* c = slot_at(r->index);
  capture_header(r, c, gen, kViaStart, kRunning, 0);
  c->frames[0] = reinterpret_cast<uintptr_t>(r->start_fn);
  c->nframes = 1;
  c->first_pc = 1;  // the start routine's entry
}


// --- stop 1 ------------------------------------------------------------------

uint32_t g_frozen_count = 0;  // judged frozen in this dump (preload/scheduler.h)

// Waits until the first `count` signalled members are done or frozen; past
// the stop timeout, claims the silent ones as `via=timeout`. Members whose
// thread vanished are omitted.
//
// Outside stw and the torn mode, a member that has claimed itself counts as
// stopped too: from its claim on it runs only our code (the handler blocks
// every signal; a barrier captures and then waits for the release), and its
// registers are those of the cut. On a loaded machine a thread preempted
// inside its handler would otherwise hold the stop open until it gets a CPU
// again (its verdict cannot help: the handler has the stop signal blocked).
// The sweep waits for its capture, as for a frozen thread's.
//
// While frozen verdicts are pending, for at most kStopSpinNs, the dumper
// spins instead of sleeping: a timed futex wait of a few microseconds lasts
// tens of them on a virtual machine (the wake-up, not the timeout), and the
// verdicts need only a window of kFrozenWindowNs. A thread waiting for this
// CPU is not helped by our sleeping: it is judged frozen where it waits.
// Arrivals then make no wake-up call either (g_dumper_waiting stays 0).
// Spinning ends early when a pending member blocks the stop signal: it may
// be waiting for this very CPU to finish a handler, and is not frozen.
constexpr uint64_t kStopSpinNs = 1000000;
void wait_for_signalled(uint32_t count, uint32_t gen, uint64_t start_ns) {
  uint64_t deadline = start_ns + static_cast<uint64_t>(g_config.stop_timeout_ms) * 1000000ull;
  // Frozen verdicts where the stop ends before everything is captured:
  // not in stw (everything inside the stop) nor in the torn test mode.
  bool verdicts = g_config.concurrent && !torn_mode();
  uint64_t spin_until = verdicts ? start_ns + kStopSpinNs : 0;
  uint32_t pending_from = 0;
  g_frozen_count = 0;
  frozen_verdicts_begin(count);
  for (;;) {
    uint64_t now = now_ns();
    bool spin = now < spin_until;
    g_dumper_waiting.store(spin ? 0 : 1, std::memory_order_seq_cst);
    uint32_t seen = g_arrivals.load(std::memory_order_seq_cst);
    auto settled = [&](Record* r) {
      return !before(r->done.load(std::memory_order_seq_cst), gen) ||
             (verdicts && r->claimed.load(std::memory_order_seq_cst) == gen) ||
             r->frozen_gen.load(std::memory_order_relaxed) == gen || abandoned(r, gen);
    };
    while (pending_from < count && settled(record_at(g_signalled[pending_from])))
      ++pending_from;
    if (pending_from == count) break;
    bool timed_out = now >= deadline;
    for (uint32_t i = pending_from; i < count; ++i) {
      Record* r = record_at(g_signalled[i]);
      if (settled(r)) continue;
      pid_t tid = r->tid.load(std::memory_order_relaxed);
      bool gone = raw_tgkill(raw_getpid(), tid, 0) == -ESRCH;
      if (gone || timed_out) {
        if (claim(r, gen)) {
          Capture* c = slot_at(r->index);
          capture_header(r, c, gen, kViaTimeout, kRunning, 0);
          if (gone) r->omit = true;
          else r->timed_out = true;
          note_done_by_dumper(r, gen);
          continue;
        }
        if (timed_out) {
          // It claimed itself in its handler and never finished (stopped
          // there): given up, as the sweep gives up such claims.
          abandon(r, gen);
          continue;
        }
      }
      bool blocks = false;
      if (verdicts && !gone && judged_frozen(i, tid, now, &blocks)) {
        r->frozen_gen.store(gen, std::memory_order_relaxed);
        ++g_frozen_count;
      }
      if (blocks) spin_until = 0;
    }
    if (spin) {
      // A couple of microseconds, or until someone arrives.
      uint64_t until = now_ns() + 2000;
      while (g_arrivals.load(std::memory_order_relaxed) == seen && now_ns() < until)
        for (int k = 0; k < 8; ++k) cpu_relax();
      continue;
    }
    // Short waits while verdicts are pending (the dumper's timer slack is
    // 1 ns), else a millisecond; an arrival wakes us at once.
    timespec wait = {0, verdicts ? static_cast<long>(kFrozenWindowNs / 2) : 1000000L};
    futex_wait(&g_arrivals, seen, &wait);
  }
  g_dumper_waiting.store(0, std::memory_order_seq_cst);
}

// Who holds the locks members wait for: read at the cut, applied after the
// stop (preload/owners.cpp).
void read_lock_owners() {
  owners_read_at_cut(g_lock_waiters, g_lock_waiter_calls, g_lock_waiter_count);
}
void apply_lock_owners(uint32_t gen) { owners_apply(g_lock_waiters, g_lock_waiter_count, gen); }

}  // namespace

bool is_lock_call(uint32_t call) { return is_lock_kind(call_kind(call)); }

namespace {

// Under the registry lock, with g_gen = gen and g_active published.
// Stop path: no allocation, no lock of the program's, no wait.
void stop1_walk_and_signal(uint32_t gen) {
  uint32_t hw = g_hi_water.load(std::memory_order_acquire);
  pid_t pid = raw_getpid();
  bool torn = torn_mode();  // blocked threads are signalled too, none is tgkill'ed here
  int stop_signal = g_stop_signal.load(std::memory_order_relaxed);
  bool concurrent = g_config.concurrent && !torn;  // stw stays the baseline
  // The hot loop keeps its counters in registers (a global counter would be
  // reloaded after every atomic load); everything else is for the few
  // threads that run or start.
  uint32_t members = 0, signalled = 0, lock_waiters = 0;
  auto visit = [&](uint32_t i, uint32_t w) __attribute__((always_inline)) {
    if (w == kFree) return;
    g_members[members++] = i;
    Kind k = state_kind(w);
    if (TS_LIKELY(k == kBlocked && !torn)) {
      if (w & kLockWaitBit) {
        g_lock_waiter_calls[lock_waiters] = state_call(w);
        g_lock_waiters[lock_waiters++] = i;
      }
      return;
    }
    Record* r = record_at(i);
    if (TS_UNLIKELY(earlier_claim_unfinished(r, gen))) {
      // Its claimer (the thread itself) still holds an earlier dump's claim:
      // not signalled, not waited for, listed from its record.
      abandon(r, gen);
      return;
    }
    if (k == kStarting) {
      if (claim(r, gen)) { capture_start(r, gen); note_done_by_dumper(r, gen); }
      return;
    }
    if (concurrent && r->claimed.load(std::memory_order_seq_cst) == gen) {
      // It left its call (or started) during this stop and claimed itself
      // in its barrier: from the claim on it runs only our code until the
      // release, so it is stopped already, and a signal would only
      // interrupt that wait. The sweep waits for its capture. Where the
      // walk is slow (a loaded machine) these were most of the threads it
      // signalled: every thread that woke after g_active was published.
      return;
    }
    if (TS_UNLIKELY(r->skip_signal.load(std::memory_order_relaxed)) && claim(r, gen)) {
      // It still blocks our stop signal (checked before this stop): it
      // cannot answer, so the stop does not wait for it again.
      capture_header(r, slot_at(i), gen, kViaTimeout, kRunning, 0);
      note_done_by_dumper(r, gen);
      return;
    }
    if (TS_UNLIKELY(!stop_signal) && claim(r, gen)) {
      // No signal left to stop it with (the program took them all).
      capture_header(r, slot_at(i), gen, kViaTimeout, kRunning, 0);
      note_done_by_dumper(r, gen);
      return;
    }
    g_signalled[signalled++] = i;
    long sent = torn ? 0 : raw_tgkill(pid, r->tid.load(std::memory_order_relaxed), stop_signal);
    if (sent != 0 && claim(r, gen)) {
      // Gone already (a foreign thread that exited): not in this dump. Or
      // the signal was not queued (a real-time stop signal past
      // RLIMIT_SIGPENDING): it cannot answer, and a frozen verdict on it
      // would be wrong.
      capture_header(r, slot_at(i), gen, kViaTimeout, kRunning, 0);
      if (sent == -ESRCH) r->omit = true;
      note_done_by_dumper(r, gen);
    }
  };
  // Four words at a time (SSE2, in every x86-64): a group of four blocked
  // threads, most of a program with many threads, costs a load, a compare
  // and a store of four indices; the rest goes word by word. Plain vector
  // loads of the atomic words: each 4-byte word is read whole (aligned), and
  // on x86 no load passes the locked store that published g_active; the
  // fence keeps the compiler from moving them above it.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  static_assert(sizeof(g_state[0]) == 4 && alignof(decltype(g_state[0])) == 4);
  const auto* words = reinterpret_cast<const uint32_t*>(&g_state[0]);
  const __m128i kind_bits = _mm_set1_epi32(0x7f), blocked = _mm_set1_epi32(kBlocked);
  const __m128i lock_bit = _mm_set1_epi32(kLockWaitBit), four = _mm_set1_epi32(4);
  __m128i index = _mm_setr_epi32(0, 1, 2, 3);
  uint32_t i = 0;
  for (; i + 4 <= hw; i += 4, index = _mm_add_epi32(index, four)) {
    __m128i w = _mm_loadu_si128(reinterpret_cast<const __m128i*>(words + i));
    __m128i is_blocked = _mm_cmpeq_epi32(_mm_and_si128(w, kind_bits), blocked);
    alignas(16) uint32_t ws[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(ws), w);
    if (torn || _mm_movemask_ps(_mm_castsi128_ps(is_blocked)) != 0xf) {
      for (uint32_t j = 0; j < 4; ++j) visit(i + j, ws[j]);
      continue;
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(&g_members[members]), index);
    members += 4;
    int locks = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(_mm_and_si128(w, lock_bit), lock_bit)));
    if (locks == 0xf) {
      // Four lock waiters (threads queued on one lock come in runs).
      _mm_storeu_si128(reinterpret_cast<__m128i*>(&g_lock_waiters[lock_waiters]), index);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(&g_lock_waiter_calls[lock_waiters]),
                       _mm_srli_epi32(w, 8));
      lock_waiters += 4;
      continue;
    }
    while (locks) {
      uint32_t j = static_cast<uint32_t>(__builtin_ctz(static_cast<unsigned>(locks)));
      locks &= locks - 1;
      g_lock_waiter_calls[lock_waiters] = state_call(ws[j]);
      g_lock_waiters[lock_waiters++] = i + j;
    }
  }
  for (; i < hw; ++i) visit(i, g_state[i].load(std::memory_order_seq_cst));
  g_member_count = members;
  g_signalled_count = signalled;
  g_lock_waiter_count = lock_waiters;
}

// --- the sweep ----------------------------------------------------------------

void sweep(uint32_t gen, Via via) {
  uint64_t deadline = now_ns() + static_cast<uint64_t>(g_config.stop_timeout_ms) * 1000000ull;
  for (uint32_t i = 0; i < g_member_count; ++i) {
    prefetch_ahead(g_members, i, g_member_count, kSlotLinesHeader);
    Record* r = record_at(g_members[i]);
    // A frozen thread captures itself in its handler when it next runs: its
    // record's registers are not its state.
    if (r->frozen_gen.load(std::memory_order_relaxed) == gen || abandoned(r, gen)) continue;
    switch (try_claim(r, gen)) {
      case Claim::kOurs:
        capture_from_wrapper(r, gen, via);
        note_done_by_dumper(r, gen);
        break;
      case Claim::kUnfinished: abandon(r, gen); break;
      case Claim::kTaken: break;  // it claimed itself leaving its call: waited for below
    }
  }
  // Threads that claimed themselves may still be copying, frozen ones may
  // not have run yet: wait for them.
  for (;;) {
    g_dumper_waiting.store(1, std::memory_order_seq_cst);
    uint32_t seen = g_arrivals.load(std::memory_order_seq_cst);
    bool all = true;
    for (uint32_t i = 0; i < g_member_count && all; ++i) {
      Record* r = record_at(g_members[i]);
      if (before(r->done.load(std::memory_order_seq_cst), gen) && !abandoned(r, gen)) all = false;
    }
    if (all) break;
    if (now_ns() >= deadline) {
      // Every wait of the dumper is bounded: a claim never finished (its
      // thread stopped or jumped away between claim and done) is given up.
      // A frozen thread that never ran again (SIGSTOP, starved) is a
      // timeout.
      for (uint32_t i = 0; i < g_member_count; ++i) {
        Record* r = record_at(g_members[i]);
        if (!before(r->done.load(std::memory_order_seq_cst), gen) || abandoned(r, gen)) continue;
        if (claim(r, gen)) {
          capture_header(r, slot_at(r->index), gen, kViaTimeout, kRunning, 0);
          note_done_by_dumper(r, gen);
        } else {
          abandon(r, gen);
        }
      }
      break;
    }
    timespec ms = {0, 1000000};
    futex_wait(&g_arrivals, seen, &ms);
  }
  g_dumper_waiting.store(0, std::memory_order_seq_cst);
}

// Turns every member's copy into frames (timeouts have none, a thread not
// yet started has its start routine already).
// Returns how many kept the frames of the previous dump.
uint32_t unwind_members(bool modules_changed) {
  unwinder_begin(modules_changed);
  unwinder_check_rules(g_config.test_unwind_check);
  UnwindRuleStats before = unwinder_rule_stats();
  uint32_t kept = 0;
  for (uint32_t i = 0; i < g_member_count; ++i) {
    prefetch_ahead(g_members, i, g_member_count, kSlotLinesHeader);
    if (g_config.concurrent) yield_to_program(i);  // not inside stw's one stop
    if (abandoned(record_at(g_members[i]), g_gen.load())) continue;
    Capture* c = slot_at(g_members[i]);
    if (c->via == kViaTimeout || c->via == kViaStart) continue;
    if (c->unwound_gen == c->gen) {  // same call as last time: same frames
      ++kept;
      continue;
    }
    unwind_capture(c, g_members[i], static_cast<uint32_t>(g_config.max_frames), g_config.unwind_fp);
    c->unwound_gen = c->gen;
  }
  if (g_config.test_unwind_check) {
    UnwindRuleStats after = unwinder_rule_stats();
    Line l;
    l.s("unwind check: ").u(after.checked - before.checked)
        .s(" unwinds by rules compared with libunwind, ").u(after.differed - before.differed)
        .s(" differed; ").u(after.by_libunwind - before.by_libunwind).s(" by libunwind alone");
    if (after.differed != before.differed)
      l.s(" (first: rules ").u(after.first_diff_rules_n).s(" frames, libunwind ")
          .u(after.first_diff_libunwind_n).s(")");
    log_line(l);
  }
  return kept;
}

void sleep_ms(int ms) {
  timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  raw_syscall(SYS_nanosleep, reinterpret_cast<long>(&ts), 0);
}

// Tests only (THREADSNAP_TEST_CLAIM_STALL_MS): the whole stall, whatever
// signal handlers run meanwhile, as a program's handler that ran here for
// that long would take it; our stop signal arriving meanwhile must not end
// it early.
void stall_ms(int ms) {
  timespec until;
  raw_syscall(SYS_clock_gettime, CLOCK_MONOTONIC, reinterpret_cast<long>(&until));
  until.tv_sec += ms / 1000;
  until.tv_nsec += (ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) { until.tv_sec += 1; until.tv_nsec -= 1000000000L; }
  while (raw_syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME,
                     reinterpret_cast<long>(&until), 0) == -EINTR) {
  }
}

}  // namespace

// --- the other threads' side ---------------------------------------------------

void stop_signal_handler(int, siginfo_t* si, void* ucv) {
  int saved = errno;
  // Sent by another process (threadsnap dump, to the main thread of a
  // process that has no dumper yet): a request for a dump. Our own stops
  // come from this pid.
  if (si && si->si_code == SI_TKILL && si->si_pid != g_pid.load(std::memory_order_relaxed)) {
    auto* uc = static_cast<const ucontext_t*>(ucv);
    request_dump(static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]), true);
  }
  if (g_active.load(std::memory_order_seq_cst)) {
    uint32_t gen = g_gen.load(std::memory_order_seq_cst);
    // A thread made by a raw clone without its own TLS sees another
    // thread's t_self: trust it only if the tid matches.
    // A thread in vfork has t_self cleared for its child (shim/vfork.cpp):
    // the stop signal may land as vfork returns, before it is restored.
    pid_t tid = raw_gettid();
    Record* r = t_self;
    if (!r) r = static_cast<Record*>(threadsnap_vfork_self);
    if (!r || r->tid.load(std::memory_order_relaxed) != tid) r = registry_find_foreign(tid);
    if (r && is_member(r, gen)) {
      // kUnfinished: this thread's own earlier claim, which the handler
      // interrupted (t_in_barrier is set then): left to finish.
      bool captured = claim(r, gen);
      if (captured) {
        capture_from_signal(r, static_cast<const ucontext_t*>(ucv), gen);
        note_done(r, gen);
      }
      // In a barrier whose claim is open (ours or the dumper's), the stop
      // may wait for that claim, which only the code this handler
      // interrupted finishes: no wait here, the barrier waits afterwards.
      // A claim this handler took and finished leaves nothing open: it
      // waits, also where it interrupted a program's handler that had
      // interrupted the barrier before its claim (that handler would
      // otherwise run on through the stop).
      if (!torn_mode() && (!t_in_barrier || captured)) wait_release(gen);
    }
  }
  errno = saved;
}

namespace {

// Whether this thread's own claim of gen is still open: a fork child whose
// handler forked inside the barrier had its claim words settled
// (registry_settle_fork), and a dump of the child may have claimed the
// thread since. The resumed barrier then must not finish the claim.
bool own_claim_open(const Record* r, uint32_t gen) {
  return r->claimed.load(std::memory_order_seq_cst) == gen &&
         before(r->done.load(std::memory_order_seq_cst), gen);
}

// Finishes this thread's own claim of gen without a capture: what the slot
// holds is not one, so a timeout header goes in its place, then done, as
// the claimer must.
void finish_own_claim_as_timeout(Record* r, uint32_t gen) {
  capture_header(r, slot_at(r->index), gen, kViaTimeout, kRunning, 0);
  note_done(r, gen);
}

// This thread's claim that a dump gave up (abandon) and that nobody will
// finish: a program's handler jumped out of the barrier between the
// claim's CAS and its marking as ours (t_own_claim), so leave_own_claim
// could not finish it. An open claim seen by its thread, outside its
// capture, that a dump gave up is the thread's own: the dumper finishes
// each of its claims at once and never gives one up, and the handler and
// thread_started claim with every signal blocked. Finished as
// leave_own_claim would have (a timeout header), else every later dump
// would list the thread from its record. Returns whether there was one.
bool finish_given_up_claim(Record* r) {
  uint32_t c = r->claimed.load(std::memory_order_seq_cst);
  if (!before(r->done.load(std::memory_order_seq_cst), c) ||
      before(r->abandoned_gen.load(std::memory_order_seq_cst), c))
    return false;
  finish_own_claim_as_timeout(r, c);
  return true;
}

}  // namespace

void barrier_slow(Record* r) {
  if (torn_mode()) return;
  int saved = errno;
  uint32_t gen = g_gen.load(std::memory_order_seq_cst);
  if (is_member(r, gen)) {
    t_in_barrier = 1;
    Claim claim = try_claim(r, gen);
    // An earlier dump's claim of its own, lost as above and given up: it
    // would keep this thread out of every dump.
    if (claim == Claim::kUnfinished && finish_given_up_claim(r)) claim = try_claim(r, gen);
    switch (claim) {
      case Claim::kOurs:
        // Tests only: the stall lands before the claim is marked ours, as a
        // program's handler that lands there and jumps out (the lost claim
        // finish_given_up_claim finishes).
        if (TS_UNLIKELY(g_config.test_claim_unmarked && g_config.test_claim_stall_ms))
          stall_ms(g_config.test_claim_stall_ms);
        t_own_claim = gen;
        if (TS_UNLIKELY(r->frozen_gen.load(std::memory_order_relaxed) == gen)) {
          // Judged frozen at stop 1, yet here with its claim free: its stop
          // signal never reached our handler, which it would have run
          // before any code of the program (the program took the signal
          // with a raw sigtimedwait or signalfd, or a tracer dropped it).
          // It ran on after the cut, so the call it leaves is not its state
          // there: listed as a thread that could not answer.
          finish_own_claim_as_timeout(r, gen);
          t_own_claim = 0;
          break;
        }
        // Tests only: a claim that takes longer than the dump may wait for
        // it (as when a program's handler runs or stops right here).
        if (TS_UNLIKELY(g_config.test_claim_stall_ms && !g_config.test_claim_unmarked))
          stall_ms(g_config.test_claim_stall_ms);
        if (own_claim_open(r, gen)) capture_from_wrapper(r, gen, mode_via(kViaSelf));
        if (own_claim_open(r, gen)) note_done(r, gen);
        t_own_claim = 0;
        break;
      case Claim::kTaken:
        // Given up by the dump instead: our own lost claim (see above).
        if (!wait_done(r, gen)) finish_given_up_claim(r);
        break;
      // Only this thread claims itself, and an earlier claim of its own
      // still open here was lost and given up by its dump (which is over),
      // so it was finished above: in any case nothing to wait for.
      case Claim::kUnfinished: break;
    }
    t_in_barrier = 0;
    wait_release(gen);
  }
  errno = saved;
}

void settle_on_entry(Record* r) {
  if (torn_mode()) return;
  int saved = errno;
  uint32_t gen = g_gen.load(std::memory_order_seq_cst);
  if (is_member(r, gen) && before(g_release.load(std::memory_order_seq_cst), gen))
    wait_release(gen);
  errno = saved;
}

void leave_own_claim(Record* r) {
  uint32_t gen = t_own_claim;
  // Still ours and unfinished (only this thread can finish it, so this
  // cannot change under us). Not so in a fork child, whose fork handler
  // settled this thread's claim words (registry_settle_fork).
  if (gen && own_claim_open(r, gen)) {
    finish_own_claim_as_timeout(r, gen);  // the capture was cut short
  } else {
    // A claim lost before it was marked ours, that a dump has given up
    // already (no barrier may come: the dump may be over).
    finish_given_up_claim(r);
  }
  t_own_claim = 0;
  t_in_barrier = 0;
}

void coordinator_after_fork_child() {
  // With this set, the child's handler would capture this thread at its
  // first dump and then let it run on through that stop.
  if (t_in_barrier) t_in_barrier = 0;
}

void thread_started(Record* r) {
  g_state[r->index].store(state_word(kRunning), std::memory_order_seq_cst);
  if (!g_active.load(std::memory_order_seq_cst) || torn_mode()) return;
  uint32_t gen = g_gen.load(std::memory_order_seq_cst);
  if (!is_member(r, gen)) return;
  // The claim with every signal blocked (SIGKILL and SIGSTOP aside): no
  // wrapped call is open here, so a program's handler that ran between the
  // claim and done and made a wrapped call would wait in its barrier for
  // this very claim, which only this thread can finish, and would run the
  // program during the stop. Two system calls, only for a thread that
  // starts while a dump is active.
  uint64_t all = ~0ull, old = 0;
  raw_syscall(SYS_rt_sigprocmask, SIG_BLOCK, reinterpret_cast<long>(&all),
              reinterpret_cast<long>(&old), sizeof(all));
  switch (try_claim(r, gen)) {
    case Claim::kOurs:
      capture_start(r, gen);
      note_done(r, gen);
      break;
    // The dumper's claim (a starting thread, walk) or this thread's handler's:
    // both finished, never given up (no lost claim without a wrapped call).
    case Claim::kTaken: wait_done(r, gen); break;
    case Claim::kUnfinished: break;  // a new record has no earlier claim
  }
  raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&old), 0, sizeof(old));
  wait_release(gen);
}

// --- the dumper ------------------------------------------------------------------

void take_dump(uint32_t record_token) {
  uint64_t cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
  // Before the stop: everything that may allocate or take the loader lock.
  bool changed = modules_refresh();
  bool scanned = task_scan_needed();
  if (scanned) adopt_foreign_threads();
  recheck_silent_threads();

  // Frames are kept only where nothing may have moved under them: not in
  // stw (the baseline), not across a change of the module list.
  g_keep_frames.store(g_config.concurrent && !changed && g_config.test_reuse != kReuseOff,
                      std::memory_order_relaxed);

  uint64_t slice = stop_slice_begin();
  // Bring what stop 1 reads and writes into this core's cache, after the
  // nap above (the dumper may have woken on the other CPU): the state words
  // and the lock waiters' wait objects (read), the member and lock-waiter
  // lists (written). Cold, each lock waiter cost the walk 2-3 ns more and
  // the reading of its owner as much again (10,000 threads on a mutex or an
  // rwlock, nobody to signal: stop 1 p50 46 us cold, 26 us warm).
  {
    uint32_t hw = g_hi_water.load(std::memory_order_acquire);
    uintptr_t sum = 0;
    for (uint32_t i = 0; i < hw; i += 16) sum += g_state[i].load(std::memory_order_relaxed);
    for (uint32_t i = 0; i < hw; i += 8) sum += g_obj[i].load(std::memory_order_relaxed);
    auto touch = static_cast<uint32_t>(sum);
    for (uint32_t i = 0; i < hw; i += 16) {
      g_members[i] = touch;
      g_lock_waiters[i] = touch;
      g_lock_waiter_calls[i] = touch;
      g_lock_owner[i] = touch;
    }
  }
  DumpTimes t = {};
  t.record_token = record_token;
  t.time_ns = now_ns(CLOCK_REALTIME);
  uint64_t t0 = now_ns();
  t.stop1_mono_ns = t0;
  g_registry_lock.lock();
  uint32_t gen = g_gen.load() + 1;
  if (gen == 0) gen = 1;
  t.gen = gen;
  g_busy.store(1, std::memory_order_relaxed);
  g_gen.store(gen, std::memory_order_seq_cst);
  g_active.store(1, std::memory_order_seq_cst);
  stop1_walk_and_signal(gen);
  if (torn_mode()) torn_capture(g_signalled, g_signalled_count, gen, t0, wait_for_signalled);
  else if (g_signalled_count) wait_for_signalled(g_signalled_count, gen, t0);
  read_lock_owners();

  if (g_config.concurrent) {
    uint64_t t1 = release(gen);  // end of stop 1: the world runs, the sweep begins
    g_registry_lock.unlock();
    t.stop1_ns = t1 - t0;
    stop_slice_end(slice);
    if (g_config.test_sweep_delay_ms) sleep_ms(g_config.test_sweep_delay_ms);
    sweep(gen, kViaSweep);
    uint64_t t2 = now_ns();
    t.sweep_ns = t2 - t1;
    g_registry_lock.lock();
    g_active.store(0, std::memory_order_seq_cst);
    g_registry_lock.unlock();
    t.stop2_ns = now_ns() - t2;
    g_yield_until_ns = now_ns() + 200000000ull;
    t.kept = unwind_members(changed);
  } else {
    // stw: one stop for everything, unwinding included (Go before 1.19).
    sweep(gen, kViaStw);
    t.kept = unwind_members(changed);
    g_active.store(0, std::memory_order_seq_cst);
    uint64_t t1 = release(gen);
    g_registry_lock.unlock();
    t.stop1_ns = t1 - t0;
  }
  apply_lock_owners(gen);
  t.frozen = g_frozen_count;
  t.task_scan = scanned;
  t.dumper_cpu_ns = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
  write_dump(g_members, g_member_count, t);
  registry_release_zombies();
}

}  // namespace threadsnap::detail
