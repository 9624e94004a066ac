// threadsnap: the state that belongs to one process and must read as zero
// (unlocked, idle, empty) in its fork children.
//
// Why one object: a fork copies the parent's pages copy-on-write, so every
// page of ours that the parent writes after a fork (the fork handlers'
// unlocks, the next wrapped call's state words) costs the parent a fault,
// and every page the child writes to reset our state costs the child one.
// These words live in g_local, whose pages process_local_init() marks
// MADV_WIPEONFORK: a fork copies none of them, the parent's later writes
// fault nothing, and the child finds zeros without writing (locks free, no
// dump, no dumper, no gate). With the flag the child's fork handler
// neither reads nor resets them: it writes only the few words whose child
// value is not zero, all on the first page. Where the kernel refuses the
// flag, the handler writes the zeros itself (registry_after_fork_child,
// atfork_child), each as "set if it differs".
//
// Only what is right as zero in a child belongs here. The configuration,
// the signal numbers, the generation counter (a record's born_gen is
// compared with it) and the records themselves are inherited as they are.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>

#include "base/raw.h"
#include "unwind/stack_copy.h"

namespace threadsnap::detail {

inline constexpr uint32_t kMaxThreads = 65536;
inline constexpr uint32_t kMaxForeign = 4096;
inline constexpr uint32_t kExitedRing = 1024;

// What a thread blocked in a wrapped call is waiting for, written by the
// thread before it publishes kBlocked (shim/block_scope.h), read by captures.
// Per record index, in g_local: a wrapped call after a fork (waitpid in the
// parent) then writes no page that the fork made copy-on-write.
struct CallDetail {
  uint32_t call;
  uintptr_t obj, obj2;
  uintptr_t wait_sets[3];  // select/pselect: the read, write, except sets
  uint64_t since_ns;
  uint64_t regs[kNumRegs];  // rip rsp rbp rbx r12-r15 saved in the wrapper
};

struct alignas(4096) ProcessLocal {
  // --- first page: the words fork touches, then the first state words ---
  // preload/entry.cpp: the fork/dump gate and the dumper's life.
  std::atomic<uint32_t> gate_pending{0};
  std::atomic<uint32_t> dump_running{0};
  std::atomic<uint32_t> gate_sleeper{0};
  std::atomic<int> dumper_state{0};   // 0 none, 1 being started, 2 running
  std::atomic<pid_t> dumper_tid{0};
  pthread_t dumper_thread = 0;        // joinable; joined before the next one starts
  std::atomic<int> dump_wanted{0};
  std::atomic<int> dumper_leave{0};
  std::atomic<int> entry_work{0};     // kWork* (preload/entry.h)
  std::atomic<pid_t> pid{0};          // g_pid (preload/common.h's comment)
  // In a fork child: index + 1 of the forking thread's record, whose own
  // words are set later (registry_settle_fork); 0 otherwise.
  std::atomic<uint32_t> fork_settle{0};
  // preload/registry.cpp.
  SpinFutexLock registry_lock;
  std::atomic<uint32_t> active{0};
  std::atomic<uint32_t> busy{0};
  std::atomic<uint32_t> live_threads{0};
  std::atomic<uint32_t> hi_water{0};
  std::atomic<uint32_t> foreign_count{0};
  std::atomic<uint64_t> tracked_exits{0};
  uint32_t free_top = 0;
  uint32_t zombie_count = 0;
  uint32_t exited_next = 0;
  // preload/control.cpp and preload/writer.cpp.
  char* control_page = nullptr;
  std::atomic<int> control_creating{0};
  uint32_t writer_seq = 0;
  uint64_t writer_written = 0;
  // preload/writer.cpp: the last record dump written whole for a recorder
  // (its token, generation and sequence number); 0: none.
  uint32_t record_token = 0;
  uint32_t record_base_gen = 0;
  uint32_t record_base_seq = 0;
  // --- the dense per-record arrays (preload/registry.h) ---
  std::atomic<uint32_t> state[kMaxThreads] = {};
  std::atomic<uintptr_t> obj[kMaxThreads] = {};
  uint32_t free_list[kMaxThreads] = {};
  uint32_t zombies[kMaxThreads] = {};
  std::atomic<uint32_t> foreign[kMaxForeign] = {};  // record index + 1; 0 = empty
  pid_t exited[kExitedRing] = {};
  CallDetail calls[kMaxThreads] = {};
  // --- preload/control.cpp: what the control record shows ---
  SpinFutexLock control_lock;
  uint64_t control_seq = 0;
  uint64_t control_dump_count = 0;
  char control_message[512] = {};
  char control_last_dump[4096] = {};  // PATH_MAX
  char control_body[4096] = {};       // publish scratch, under control_lock
  // --- the dumper's scratch: meaningful during one dump only, and no dump
  // crosses a fork (the gate). Here the pages a dump touched are never
  // copied by a later fork.
  // preload/coordinator.cpp.
  uint32_t members[kMaxThreads] = {};
  uint32_t signalled[kMaxThreads] = {};
  uint32_t lock_waiters[kMaxThreads] = {};
  uint32_t lock_waiter_calls[kMaxThreads] = {};
  uint64_t sig_clock[kMaxThreads] = {};
  uint64_t sig_since[kMaxThreads] = {};
  // preload/owners.cpp.
  uint32_t lock_owner[kMaxThreads] = {};
  // preload/adopt.cpp.
  pid_t task_tids[kMaxThreads] = {};
  char task_dirents[32768] = {};
};

// constinit (registry.cpp): zero before any constructor of ours runs.
extern ProcessLocal g_local;

// True once g_local's pages are wiped on fork. Called once by the
// constructor, before any thread of ours exists. Ordinary context.
bool process_local_init();
extern bool g_local_wiped;

// The process id, cached (raw getpid in a vfork child gives the child's:
// compare with this to know that the memory is the parent's). 0 in a fork
// child until its fork handler sets it.
inline constexpr auto& g_pid = g_local.pid;

}  // namespace threadsnap::detail
