// threadsnap: the registry of threads: one record per thread, its capture
// slot, and registration. The protocol's shared words (the state word, the
// generation and the flags of a dump) are in preload/protocol.h.
//
// Contract:
// - A record is created by pthread_create's wrapper (in the creating thread,
//   so creation order is registration order), by the constructor for the main
//   thread, or by the dumper for a thread it finds in /proc/self/task only
//   ("foreign"). Creation and release take g_registry_lock, which is
//   threadsnap's own and never held by a signal handler.
// - The state word of each thread lives in the dense array g_state
//   (protocol.h), one word per record index.
// - Memory for records and capture slots is mmap'ed in chunks at
//   registration time: nothing here allocates on a stop path.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>

#include "preload/common.h"
#include "preload/process_local.h"
#include "preload/protocol.h"
#include "unwind/stack_copy.h"

namespace threadsnap::detail {

inline constexpr uint32_t kChunkRecords = 512;

// Record::start_gate: the creator may read *thread (the pthread_t that glibc
// wrote) only while the new thread cannot run its start routine, which may
// free that memory. The creator moves it 0 -> kGateCreatorReading; the
// trampoline's first act swaps in kGateStarted and, if it found the creator
// reading, waits for creator_done.
inline constexpr uint32_t kGateCreatorReading = 1, kGateStarted = 2;

enum Via : uint32_t { kViaNone, kViaSignal, kViaSweep, kViaSelf, kViaStw, kViaTimeout, kViaStart,
                      kViaCount };

// A thread's dump line less blocked_ns, as fields (a record dump compares
// them with what its base said). Zero-filled before use: compared whole.
struct RecordLine {
  pid_t tid;
  pid_t owner;
  uint32_t kind, call, via, first_pc, foreign, nframes;
  uintptr_t obj, obj2;
  char name[16];
};

// Frame lines a capture slot keeps as text: about 40 frames.
inline constexpr size_t kKeptTextBytes = 768;

// What a thread was doing at stop 1 (its stack copy is at slot_bytes):
// written by whoever claims the thread, read by the dumper after the
// thread's `done` is set.
struct Capture {
  uint32_t gen;
  uint32_t via;
  uint32_t kind;        // kRunning or kBlocked (or kStarting)
  uint32_t call;        // wrapped call id when blocked
  uintptr_t obj, obj2;  // wait object; obj2: the mutex of a condvar wait
  uint64_t since_ns;    // CLOCK_MONOTONIC when it blocked
  pid_t tid;
  pid_t owner;          // holder of obj at stop 1, 0 if unknown...
  uint32_t owner_gen;   // ...valid only when this equals gen (read at this cut)
  char name[16];
  uint64_t regs[kNumRegs];
  uintptr_t copy_base;  // address of the first copied stack byte
  uint32_t copy_len;
  uint32_t nframes;     // filled by the unwinder (preload/frames.cpp)...
  uint32_t first_pc;    // ...1: frames[0] is a PC to look up as is, not a return address
  uint32_t interrupted; // regs are those of an interrupted thread (a signal handler's capture)
  // The generation whose capture frames[] was unwound from (the dumper, in
  // unwind_members): equal to gen once this capture has its frames. A
  // blocked thread found in the same call at the next dump keeps them
  // (coordinator.cpp, same_call_as_slot).
  uint32_t unwound_gen;
  // The generation of the capture whose unwinding gave frames[] (kept
  // frames keep it): record dumps compare it with their base.
  uint32_t frames_gen;
  // What the last record dump that listed this thread wrote of it, and that
  // dump's generation (preload/writer.cpp, the `same` line).
  uint32_t rec_gen;
  RecordLine rec;
  // The text of frames[] as the writer last wrote it (preload/writer.cpp,
  // frame_lines), valid while text_gen equals frames_gen and text_nframes
  // nframes; a longer text is not kept. The dumper's alone.
  uint32_t text_gen;
  uint32_t text_nframes;
  uint32_t text_len;
  char text[kKeptTextBytes];
  uintptr_t frames[];   // slot_frames_capacity() of them
};

// One thread's record. Per field: who writes it, and under what. "Creation"
// is registry_add in pthread_create's wrapper (the creating thread), the
// constructor (the main thread) or the dumper's adoption (a foreign thread),
// under g_registry_lock; registry_add constructs the record anew, so every
// field starts at its default there. Fields without a lock are read by
// captures and by the dumper only while the record is in use.
struct alignas(64) Record {
  // --- the claim of a dump (preload/coordinator.cpp, try_claim) ---
  // claimed: the generation of the latest claim. Moved by compare-and-swap,
  // by whoever claims the thread for dump G (the thread itself in its stop
  // handler, its barrier or its start; the dumper in stop 1 or the sweep),
  // and only from a satisfied claim (claimed == done) to G. Any context.
  // (A fork child's registry_settle_fork sets claimed and done of the
  // forking thread to g_gen: the only other writer, with no dump possible.)
  std::atomic<uint32_t> claimed{0};
  // done: the generation of the latest finished claim; only the claimer of
  // `claimed` stores it, after its capture is in the slot, so it only moves
  // forward and equals `claimed` when the claim is satisfied. seq_cst: a
  // reader that sees done == G may read the slot.
  std::atomic<uint32_t> done{0};
  // Threads sleeping on `done` (wait_done: a thread whose own claim the
  // dumper holds); atomic add/sub by each, read by whoever sets `done`.
  std::atomic<uint32_t> done_waiters{0};
  // The kernel thread id: stored by creation for the main and foreign
  // threads, by the new thread's trampoline (first) or its creator (from
  // the pthread_t, only while still 0), relaxed. Read in any context.
  std::atomic<pid_t> tid{0};
  // The start handshake of a new thread (shim/thread.cpp), seq_cst:
  // creator_done is set by the creator once pthread_create returned there;
  // creator_waiting by the new thread before it sleeps on creator_done;
  // start_gate (kGate*) by whichever of the two reads the new thread's ids
  // first.
  std::atomic<uint32_t> creator_done{0};
  std::atomic<uint32_t> creator_waiting{0};
  std::atomic<uint32_t> start_gate{0};
  // Set at creation, then read only.
  uint32_t index = 0;     // this record's index in the registry
  uint32_t born_gen = 0;  // g_gen when registered; members of G have born_gen < G
  bool foreign = false;   // found in /proc/self/task only (adopted by the dumper)
  // Written under g_registry_lock by registry_release (true) and by the
  // dumper's registry_release_zombies (false): released while a dump still
  // needs its slot.
  bool zombie = false;
  // Never really existed (a failed create, under the registry lock, by the
  // creator) or vanished before stop 1 (by the dumper in stop 1).
  bool omit = false;
  // Did not answer the last stop signal: set by the dumper in stop 1,
  // cleared by the dumper before the next (recheck_silent_threads).
  bool timed_out = false;
  // The dump (its generation) that lists this thread from its record and
  // never touches its slot: the claim it found was never finished (the
  // claimer was preempted, stopped, or a program's handler ran or jumped
  // away between claim and done) or still belongs to an earlier dump.
  // Written by the dumper only (stop 1, sweep), read by the dumper.
  std::atomic<uint32_t> abandoned_gen{0};
  // The dump that judged this signalled thread frozen at its cut (off-CPU,
  // its stop signal pending and not blocked): it captures itself later.
  // Written and read by the dumper only.
  std::atomic<uint32_t> frozen_gen{0};
  // Blocks our stop signal: do not signal it nor wait for it. Written by the
  // thread itself (its pthread_sigmask and sigprocmask wrappers), by its
  // creator at creation (inherited mask), and by the dumper from /proc
  // (adoption, recheck_silent_threads) before a stop; read by stop 1.
  std::atomic<bool> skip_signal{false};
  // skip_signal came from /proc (SigBlk), not from the thread's own
  // pthread_sigmask calls: it is read again before each dump. The dumper's.
  bool skip_by_proc = false;
  // The thread's pthread_t: by the trampoline and the creator (the start
  // gate orders them), by the constructor for the main thread.
  pthread_t pthread = 0;
  // The thread's stack, 0,0 while unknown: by the thread itself before its
  // start routine (registry_fill_stack_bounds), or by the constructor.
  uintptr_t stack_lo = 0, stack_hi = 0;
  // From the creator's attributes, and the start routine: written by the
  // creator at creation, before the thread exists.
  size_t stack_size = 0;
  void* (*start_fn)(void*) = nullptr;
  void* start_arg = nullptr;
  // The blocked-call details are in g_local: call_detail(r).
  // The thread's name: at creation (the creator's, as the kernel does), then
  // by pthread_setname_np's wrapper (the thread itself, or another thread
  // under the registry lock). Copied whole into a capture; a torn read
  // shows a mix of two names, never out-of-bounds bytes.
  char name[16] = {};
};

// The registry's bookkeeping. Those that are zero in a fork child live in
// g_local (preload/process_local.h).
inline constexpr auto& g_hi_water = g_local.hi_water;  // records [0, g_hi_water) may be in use
inline constexpr auto& g_registry_lock = g_local.registry_lock;
// Program threads registered (not foreign), starting ones included. When it
// drops to 0 the dumper is told (it ends, so that the process can exit).
inline constexpr auto& g_live_threads = g_local.live_threads;
// Program threads released so far (an untracked thread born meanwhile could
// leave the kernel's thread count unchanged: coordinator.cpp).
inline constexpr auto& g_tracked_exits = g_local.tracked_exits;
inline constexpr auto& g_foreign_count = g_local.foreign_count;  // foreign records in use
extern bool g_disabled;                   // set when start-up failed: pass through

inline CallDetail& call_detail(const Record* r) { return g_local.calls[r->index]; }

// constinit: no dynamic initializer, so no TLS wrapper call on each access.
extern constinit thread_local Record* t_self TS_TLS;
extern constinit thread_local int t_depth TS_TLS;  // >0 inside a wrapper
}  // namespace threadsnap::detail
// t_self of a thread whose vfork child runs (the child shares its memory,
// so t_self is cleared meanwhile): saved and restored by the vfork wrapper's
// assembly (shim/vfork.cpp), read by the stop handler. C linkage: the
// assembly names it.
extern "C" __attribute__((visibility("hidden"))) __thread void* threadsnap_vfork_self
    __attribute__((tls_model("initial-exec")));
namespace threadsnap::detail {

inline constexpr uint32_t kChunks = kMaxThreads / kChunkRecords;
extern std::atomic<Record*> g_record_chunks[kChunks];
extern std::atomic<unsigned char*> g_slot_chunks[kChunks];

// The record of an index below g_hi_water (its chunk exists before the
// index is handed out). Any context.
inline Record* record_at(uint32_t index) {
  return g_record_chunks[index / kChunkRecords].load(std::memory_order_acquire) +
         index % kChunkRecords;
}
// The capture slot of an index below g_hi_water, how many frames it holds,
// where its stack copy goes and how many stack bytes it holds. Any context
// (the stop path writes slots; nothing here allocates).
// The slots of a chunk lie side by side, with their stack copies after
// them all: the dumper's passes over 10,000 members read a slot each,
// and slots 72 KB apart (each before its own copy) cost a TLB miss
// apiece: a fifth of the dumper's CPU at 10,000 threads here.
Capture* slot_at(uint32_t index);
uint32_t slot_frames_capacity();
unsigned char* slot_bytes(uint32_t index);
size_t slot_stack_capacity();

// In a loop over members[0, count) at i: starts loading the record of the
// member kPrefetchAhead further on and the first `lines` cache lines of its
// capture slot (kSlotLinesHeader: the fields the sweep reads;
// kSlotLinesText: and the kept text of its frames). A loop over 10,000
// members otherwise waits for several cache misses per member, one after
// another. Only hints: no fault, no effect on what the loop reads. Any
// context.
inline constexpr uint32_t kPrefetchAhead = 8;
inline constexpr int kSlotLinesHeader = 4;
inline constexpr int kSlotLinesText = 10;
void prefetch_ahead(const uint32_t* members, uint32_t i, uint32_t count, int lines);

// Sizes the capture slots (max_frames, and stack_copy_bytes of stack each),
// once, at start-up, before any record exists. Ordinary context.
void registry_configure(size_t stack_copy_bytes, uint32_t max_frames);

// Registration. Ordinary context (may mmap); take the registry lock.
// registry_add returns null (the thread goes untracked) before
// registry_configure and when the registry is full.
Record* registry_add(Kind initial, bool foreign);
void registry_release(Record* r);          // the thread is gone
// The calling thread's own record r, as the thread ends: released under the
// registry lock, and t_self cleared there, where no stop can begin (until
// then a stop 1 that holds the lock may signal this thread, which then
// captures itself through t_self).
void registry_release_self(Record* r);
void registry_init_main_thread();
void registry_after_fork_child();          // only the calling thread survives
// In a fork child, before its first thread start, release or dumper: the
// forking thread's record words (tid, generations, foreign), which the fork
// handler leaves alone so that a child that only execs or exits never
// writes (and copies) that record's page. A no-op elsewhere; idempotent.
void registry_settle_fork();
bool registry_recently_exited(pid_t tid);  // under the registry lock
Record* registry_find_foreign(pid_t tid);  // Any context.
void registry_release_zombies();           // Dumper, after a dump; clears g_busy
// Ordinary context (the thread itself, or another under the registry lock).
void registry_set_name(Record* r, const char* name);

// Sets the calling thread's stack bounds in r (from r->stack_size).
// Ordinary context.
void registry_fill_stack_bounds(Record* r);

}  // namespace threadsnap::detail
