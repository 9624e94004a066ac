// threadsnap: the registry of threads and the state the snapshot protocol
// shares between wrappers, signal handlers and the dumper.
//
// Contract:
// - A record is created by pthread_create's wrapper (in the creating thread,
//   so creation order is registration order), by the constructor for the main
//   thread, or by the dumper for a thread it finds in /proc/self/task only
//   ("foreign"). Creation and release take g_registry_lock, which is
//   threadsnap's own and never held by a signal handler.
// - The state word of each thread lives in the dense array g_state (one word
//   per record index) so that stop 1 scans 4 bytes per thread. Only the
//   owning thread writes its state word, with seq_cst stores, so that the
//   Dekker pairing with the dumper's publish of g_gen/g_active holds.
// - Memory for records and capture slots is mmap'ed in chunks at
//   registration time: nothing here allocates on a stop path.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>

#include "preload/common.h"
#include "preload/process_local.h"
#include "unwind/stack_copy.h"

namespace threadsnap::detail {

inline constexpr uint32_t kChunkRecords = 512;

enum Kind : uint32_t { kFree = 0, kRunning = 1, kBlocked = 2, kStarting = 3 };
inline constexpr uint32_t state_word(Kind k, uint32_t call = 0) { return k | (call << 8); }
inline constexpr Kind state_kind(uint32_t w) { return static_cast<Kind>(w & 0xff); }
inline constexpr uint32_t state_call(uint32_t w) { return w >> 8; }

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

// What a thread was doing at stop 1 plus its raw stack: written by whoever
// claims the thread, read by the dumper after the thread's `done` is set.
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
  uintptr_t frames[];   // then: stack bytes at slot_bytes()
};

struct alignas(64) Record {
  // Protocol words: generation of the dump that claimed / finished it.
  std::atomic<uint32_t> claimed{0};
  std::atomic<uint32_t> done{0};
  std::atomic<uint32_t> done_waiters{0};
  std::atomic<pid_t> tid{0};
  std::atomic<uint32_t> creator_done{0};     // pthread_create returned in the creator
  std::atomic<uint32_t> creator_waiting{0};  // the thread waits for that
  std::atomic<uint32_t> start_gate{0};       // kGate*: who read the new thread's ids first
  uint32_t index = 0;
  uint32_t born_gen = 0;  // g_gen when registered; members of G have born_gen < G
  bool foreign = false;
  bool zombie = false;     // released while a dump still needs its slot
  bool omit = false;       // never really existed (failed create, vanished)
  bool timed_out = false;  // did not answer the stop signal last time
  // A dump whose claim on this thread was never finished (the claimer was
  // suspended, longjmp'ed or ended between claim and done): that dump lists
  // it via=timeout from the record, never reading its half-written slot.
  std::atomic<uint32_t> abandoned_gen{0};
  // A dump that judged this signalled thread frozen at its cut (off-CPU,
  // its stop signal pending and not blocked): it captures itself later.
  std::atomic<uint32_t> frozen_gen{0};
  std::atomic<bool> skip_signal{false};  // blocks our stop signal: do not wait for it
  // skip_signal came from /proc (SigBlk), not from the thread's own
  // pthread_sigmask calls: it is read again before each dump.
  bool skip_by_proc = false;
  pthread_t pthread = 0;
  uintptr_t stack_lo = 0, stack_hi = 0;  // 0,0: unknown
  size_t stack_size = 0;                 // from the creator's attributes
  void* (*start_fn)(void*) = nullptr;
  void* start_arg = nullptr;
  // The blocked-call details are in g_local: call_detail(r).
  char name[16] = {};
};

// Global protocol state. Those that are zero in a fork child live in
// g_local (preload/process_local.h).
inline constexpr auto& g_state = g_local.state;
inline constexpr auto& g_obj = g_local.obj;  // wait object of a blocked thread (dense, for stop 1)
extern std::atomic<uint32_t> g_gen;       // generation of the latest dump
inline constexpr auto& g_active = g_local.active;  // 1 from stop 1 until stop 2
extern std::atomic<uint32_t> g_release;   // generation whose stop has ended
extern std::atomic<uint32_t> g_release_waiters;
extern std::atomic<uint32_t> g_arrivals;  // bumped each time a capture completes
inline constexpr auto& g_hi_water = g_local.hi_water;  // records [0, g_hi_water) may be in use
inline constexpr auto& g_busy = g_local.busy;  // a dump is between its stop 1 and its end
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
// The capture slot of an index below g_hi_water, the stack bytes that follow
// its frames, and how many stack bytes it holds. Any context (the stop path
// writes slots; nothing here allocates).
Capture* slot_at(uint32_t index);
unsigned char* slot_bytes(Capture* c);
size_t slot_stack_capacity();

// Sizes the capture slots (stack_copy_bytes of stack each), once, at
// start-up, before any record exists. Normal context.
void registry_configure(size_t stack_copy_bytes);

// Registration. NOT async-signal-safe (may mmap); take the registry lock.
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
void registry_release_zombies();           // the dumper, after a dump; clears g_busy
void registry_set_name(Record* r, const char* name);

// Sets the calling thread's stack bounds in r (from r->stack_size).
// NOT async-signal-safe.
void registry_fill_stack_bounds(Record* r);

}  // namespace threadsnap::detail
