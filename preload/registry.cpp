// threadsnap: thread records, their capture slots, and registration.
// Nothing here runs on a stop path except the lookups marked Any context
// (registry.h).
#include "preload/registry.h"

#include <sys/mman.h>

#include <cstring>
#include <new>

#include "preload/config.h"
#include "preload/entry.h"

namespace threadsnap::detail {

// In .lbss, which the linker puts after .bss: at the end of the library's
// writable segment, so that marking it wipe-on-fork splits that mapping in
// two, not three (every mapping costs every fork).
__attribute__((section(".lbss.threadsnap_local"))) constinit ProcessLocal g_local;
bool g_local_wiped = false;

bool process_local_init() {
  long base = reinterpret_cast<long>(&g_local);
  // Mostly untouched address space (arrays sized for 65,536 threads): never
  // backed by huge pages, where transparent huge pages are "always".
  raw_syscall(SYS_madvise, base, sizeof(g_local), MADV_NOHUGEPAGE);
  if (g_config.test_no_wipeonfork) return false;
  g_local_wiped = raw_syscall(SYS_madvise, base, sizeof(g_local), MADV_WIPEONFORK) == 0;
  return g_local_wiped;
}

std::atomic<uint32_t> g_gen{0};
std::atomic<uint32_t> g_release{0};
std::atomic<uint32_t> g_release_waiters{0};
std::atomic<uint32_t> g_arrivals{0};
bool g_disabled = false;

constinit thread_local Record* t_self TS_TLS = nullptr;
constinit thread_local int t_depth TS_TLS = 0;
}  // namespace threadsnap::detail
__thread void* threadsnap_vfork_self = nullptr;
namespace threadsnap::detail {

std::atomic<Record*> g_record_chunks[kChunks];
std::atomic<unsigned char*> g_slot_chunks[kChunks];

namespace {

// Set once by registry_configure, at start-up; 0 until then, and no record
// is handed out meanwhile (a slot sized before the configuration would be
// too small for its frames or its stack copy).
size_t g_slot_size = 0;        // a Capture and its frames, in whole cache lines
uint32_t g_frames_capacity = 0;
size_t g_slots_bytes = 0;      // a chunk's slots, in whole pages
size_t g_stack_capacity = 0;

constexpr auto& g_free = g_local.free_list;  // free record indices (stack)
constexpr auto& g_free_top = g_local.free_top;
constexpr auto& g_zombies = g_local.zombies;
constexpr auto& g_zombie_count = g_local.zombie_count;
constexpr auto& g_foreign = g_local.foreign;
constexpr auto& g_exited = g_local.exited;
constexpr auto& g_exited_next = g_local.exited_next;

bool g_full_reported = false;

void* map_noreserve(size_t n) {
  void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

// Makes sure the chunk holding `index` exists. Under the registry lock.
// Records, slots and stack copies of a chunk share one mapping (one mapping
// fewer for every fork to copy), in that order.
bool ensure_chunk(uint32_t index) {
  uint32_t c = index / kChunkRecords;
  if (g_record_chunks[c].load(std::memory_order_acquire)) return true;
  size_t rec_bytes = (sizeof(Record) * kChunkRecords + 4095) & ~size_t{4095};
  auto* p = static_cast<unsigned char*>(
      map_noreserve(rec_bytes + g_slots_bytes + g_stack_capacity * kChunkRecords));
  if (!p) return false;
  g_slot_chunks[c].store(p + rec_bytes, std::memory_order_release);
  g_record_chunks[c].store(reinterpret_cast<Record*>(p), std::memory_order_release);
  return true;
}

}  // namespace

Capture* slot_at(uint32_t index) {
  unsigned char* chunk = g_slot_chunks[index / kChunkRecords].load(std::memory_order_acquire);
  return reinterpret_cast<Capture*>(chunk + (index % kChunkRecords) * g_slot_size);
}

void prefetch_ahead(const uint32_t* members, uint32_t i, uint32_t count, int lines) {
  if (i + kPrefetchAhead >= count) return;
  uint32_t index = members[i + kPrefetchAhead];
  const Record* r = record_at(index);
  __builtin_prefetch(r);
  __builtin_prefetch(reinterpret_cast<const char*>(r) + 64);
  const char* c = reinterpret_cast<const char*>(slot_at(index));
  for (int l = 0; l < lines; ++l) __builtin_prefetch(c + l * 64);
}

uint32_t slot_frames_capacity() { return g_frames_capacity; }

unsigned char* slot_bytes(uint32_t index) {
  unsigned char* chunk = g_slot_chunks[index / kChunkRecords].load(std::memory_order_acquire);
  return chunk + g_slots_bytes + (index % kChunkRecords) * g_stack_capacity;
}

size_t slot_stack_capacity() { return g_stack_capacity; }

void registry_configure(size_t stack_copy_bytes, uint32_t max_frames) {
  if (g_slot_size) return;
  // unwind_capture unwinds 8 frames more than it keeps (ours are dropped).
  g_frames_capacity = max_frames + 8 < kMaxFramesLimit ? max_frames + 8 : kMaxFramesLimit;
  size_t s = sizeof(Capture) + g_frames_capacity * sizeof(uintptr_t);
  g_slot_size = (s + 63) & ~size_t{63};
  g_slots_bytes = (g_slot_size * kChunkRecords + 4095) & ~size_t{4095};
  g_stack_capacity = stack_copy_bytes;
}

Record* registry_add(Kind initial, bool foreign) {
  if (TS_UNLIKELY(!g_slot_size)) return nullptr;  // before start-up: untracked
  registry_settle_fork();
  uint32_t index;
  if (g_free_top) {
    index = g_free[--g_free_top];
  } else {
    index = g_hi_water.load(std::memory_order_relaxed);
    if (index >= kMaxThreads || !ensure_chunk(index)) {
      if (!g_full_reported) {
        g_full_reported = true;
        log_msg("error: cannot track more threads; new threads are not shown in dumps");
      }
      return nullptr;
    }
  }
  Record* r = new (record_at(index)) Record();
  r->index = index;
  r->foreign = foreign;
  r->born_gen = g_gen.load(std::memory_order_acquire);
  // Its claim words as of its birth: absent, not given up, not frozen for
  // every later dump, across the wrap of the 32-bit counter (from 0 they
  // would read as later than every generation past 2^31).
  r->claimed.store(r->born_gen, std::memory_order_relaxed);
  r->done.store(r->born_gen, std::memory_order_relaxed);
  r->abandoned_gen.store(r->born_gen, std::memory_order_relaxed);
  r->frozen_gen.store(r->born_gen, std::memory_order_relaxed);
  if (index == g_hi_water.load(std::memory_order_relaxed))
    g_hi_water.store(index + 1, std::memory_order_release);
  if (foreign) {
    for (uint32_t i = 0; i < kMaxForeign; ++i) {
      uint32_t expected = 0;
      if (g_foreign[i].compare_exchange_strong(expected, index + 1)) {
        g_foreign_count.fetch_add(1);
        break;
      }
    }
  }
  if (!foreign) g_live_threads.fetch_add(1, std::memory_order_seq_cst);
  g_state[index].store(state_word(initial), std::memory_order_seq_cst);
  return r;
}

void registry_release(Record* r) {
  registry_settle_fork();
  uint32_t index = r->index;
  if (!r->foreign) g_tracked_exits.fetch_add(1, std::memory_order_relaxed);
  if (!r->foreign && g_live_threads.fetch_sub(1, std::memory_order_seq_cst) == 1)
    note_no_program_threads();
  if (r->foreign) {
    for (uint32_t i = 0; i < kMaxForeign; ++i) {
      if (g_foreign[i].load(std::memory_order_relaxed) == index + 1) {
        g_foreign[i].store(0, std::memory_order_relaxed);
        g_foreign_count.fetch_sub(1);
        break;
      }
    }
  }
  pid_t tid = r->tid.load(std::memory_order_relaxed);
  if (tid) {
    g_exited[g_exited_next] = tid;
    g_exited_next = (g_exited_next + 1) % kExitedRing;
  }
  g_state[index].store(state_word(kFree), std::memory_order_seq_cst);
  // A dump between its stop 1 and its end still reads this slot: a record
  // born before that stop and released during the dump was one of its
  // members.
  uint32_t gen = g_gen.load(std::memory_order_acquire);
  if (g_busy.load(std::memory_order_relaxed) &&
      static_cast<int32_t>(r->born_gen - gen) < 0 && g_zombie_count < kMaxThreads) {
    r->zombie = true;
    g_zombies[g_zombie_count++] = index;
    return;
  }
  g_free[g_free_top++] = index;
}

void registry_release_self(Record* r) {
  g_registry_lock.lock();
  registry_release(r);
  t_self = nullptr;
  g_registry_lock.unlock();
}

void registry_release_zombies() {
  g_registry_lock.lock();
  g_busy.store(0, std::memory_order_relaxed);
  for (uint32_t i = 0; i < g_zombie_count; ++i) {
    record_at(g_zombies[i])->zombie = false;
    g_free[g_free_top++] = g_zombies[i];
  }
  g_zombie_count = 0;
  g_registry_lock.unlock();
}

bool registry_recently_exited(pid_t tid) {
  for (uint32_t i = 0; i < kExitedRing; ++i)
    if (g_exited[i] == tid) return true;
  return false;
}

Record* registry_find_foreign(pid_t tid) {
  if (!g_foreign_count.load(std::memory_order_acquire)) return nullptr;
  for (uint32_t i = 0; i < kMaxForeign; ++i) {
    uint32_t v = g_foreign[i].load(std::memory_order_acquire);
    if (!v) continue;
    Record* r = record_at(v - 1);
    if (r->tid.load(std::memory_order_relaxed) == tid) return r;
  }
  return nullptr;
}

void registry_set_name(Record* r, const char* name) {
  char tmp[16] = {};
  size_t n = strnlen(name, sizeof(tmp) - 1);
  memcpy(tmp, name, n);
  memcpy(r->name, tmp, sizeof(tmp));
}

void registry_fill_stack_bounds(Record* r) {
  // glibc keeps the thread descriptor (pthread_self()) at the top of every
  // thread's stack block, its own or one the program gave: the stack lies
  // below it. No pthread_getattr_np here: it mallocs, which cost every
  // thread a malloc arena cache and its creator a syscall.
  r->stack_hi = reinterpret_cast<uintptr_t>(pthread_self());
  size_t size = r->stack_size ? r->stack_size : size_t{8} << 20;
  r->stack_lo = r->stack_hi > size ? r->stack_hi - size : 0;
}

namespace {

// The destructor of the main thread's value of g_main_end_key: see
// registry_init_main_thread.
pthread_key_t g_main_end_key;

void main_thread_ends(void* value) {
  Record* r = static_cast<Record*>(value);
  if (!r || t_self != r || t_depth) return;  // released by the pthread_exit wrapper
  registry_release_self(r);
}

}  // namespace

void registry_init_main_thread() {
  g_registry_lock.lock();
  Record* r = registry_add(kStarting, false);
  g_registry_lock.unlock();
  if (!r) return;
  r->tid.store(raw_gettid(), std::memory_order_relaxed);
  r->pthread = pthread_self();
  // The main stack grows on demand; copy_stack never reads below the page
  // holding sp without safe_read.
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* addr = nullptr;
    size_t size = 0;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0 && addr) {
      r->stack_lo = reinterpret_cast<uintptr_t>(addr);
      r->stack_hi = r->stack_lo + size;
    }
    pthread_attr_destroy(&attr);
  }
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof(name));
  registry_set_name(r, name);
  t_self = r;
  g_state[r->index].store(state_word(kRunning), std::memory_order_seq_cst);
  // A main thread that ends without passing our pthread_exit wrapper (one
  // that is cancelled: glibc unwinds it straight back into
  // __libc_start_main) stayed registered, and the dumper, which ends with
  // the last program thread so that the process can exit, kept the process
  // alive for ever (and deaf to SIGTERM). glibc runs the destructors of a
  // thread's specific values on each way the main thread ends except a
  // return from main (exit ends everything then): this one releases the
  // record if the wrapper has not. One key of the program's 1024.
  if (pthread_key_create(&g_main_end_key, main_thread_ends) == 0)
    pthread_setspecific(g_main_end_key, r);
}

// In a fork child each page written costs a copy-on-write fault (issue 11:
// fork+exit+wait within 1.2x of plain): write only what differs.
template <typename T, typename V>
void set_if_differs(T& x, V v) {
  if (x != static_cast<T>(v)) x = static_cast<T>(v);
}
template <typename T, typename V>
void set_if_differs(std::atomic<T>& x, V v) {
  if (x.load(std::memory_order_relaxed) != static_cast<T>(v)) x.store(static_cast<T>(v));
}

void registry_after_fork_child() {
  // Only the forking thread survives. Its record keeps its index; all the
  // others are free. No other thread exists, so no atomics are contended.
  // With g_local wiped on fork (preload/process_local.h) the locks, counts,
  // lists and state words read as zero here: nothing of them is read (a
  // read of a wiped page maps the zero page, a fault of its own) and the
  // sets below write only the high-water mark and this thread's state word,
  // on g_local's first page when this thread is among the first records
  // (the main thread is record 0).
  if (!g_local_wiped) {
    g_registry_lock.reset();
    set_if_differs(g_active, 0);
    set_if_differs(g_busy, 0);
    set_if_differs(g_zombie_count, 0);
    if (g_foreign_count.load()) {
      for (uint32_t i = 0; i < kMaxForeign; ++i) set_if_differs(g_foreign[i], 0);
      g_foreign_count.store(0);
    }
  }
  // Records at or above the new high-water mark are handed out again by
  // registry_add (which constructs them anew) as the child creates threads;
  // those below this thread's index go on the free list, lowest on top.
  Record* self = t_self;
  uint32_t hw = self ? self->index + 1 : 0;
  uint32_t top = 0;
  for (uint32_t i = hw; i-- > 0;) {
    if (self && self->index == i) continue;
    set_if_differs(g_state[i], state_word(kFree));
    set_if_differs(g_free[top], i);
    ++top;
  }
  set_if_differs(g_free_top, top);
  set_if_differs(g_hi_water, hw);
  // The child may have been forked by a signal handler that interrupted a
  // wrapped call, and may never return there (a server starting a worker
  // from its SIGCHLD handler): that call's depth must not keep every wrapped
  // call of the child untracked. If the handler does return into the call,
  // its scope restores the depth it found on entry (0), not a decrement.
  if (t_depth) t_depth = 0;
  if (self) set_if_differs(g_state[self->index], state_word(kRunning));
  set_if_differs(g_local.fork_settle, self ? self->index + 1 : 0);
  set_if_differs(g_release, g_gen.load());
}

void registry_settle_fork() {
  uint32_t s = g_local.fork_settle.load(std::memory_order_acquire);
  if (TS_LIKELY(!s)) return;
  // The forking thread is the child's main thread: its tid is the pid.
  Record* self = record_at(s - 1);
  set_if_differs(self->tid, g_pid.load(std::memory_order_relaxed));
  set_if_differs(self->claimed, g_gen.load());
  set_if_differs(self->done, g_gen.load());
  set_if_differs(self->zombie, false);
  set_if_differs(self->foreign, false);
  g_local.fork_settle.store(0, std::memory_order_release);
}

}  // namespace threadsnap::detail
