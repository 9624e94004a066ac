// threadsnap: what every wrapper does around the real call.
//
// BlockScope is constructed in the wrapper's own frame (always inlined), so
// the registers it saves describe a frame that stays alive while the thread
// blocks: the dumper or the thread itself can unwind from them later. On the
// way out, the thread announces that it runs again and, if a dump is active,
// passes the barrier (preload/coordinator.cpp) before its caller sees the
// result. The destructor also runs when pthread_cancel unwinds through the
// wrapper, which is why wrappers are never noexcept where libc's are not.
#pragma once

#include "preload/entry.h"
#include "preload/registry.h"

namespace threadsnap::detail {

// The slow half of leaving a wrapped call while a dump is active.
// NOT async-signal-safe (may wait on a futex; called only from wrappers).
void barrier_slow(Record* r);

// The slow half of entering a wrapped call while a dump is active: if stop 1
// is still under way, wait for its end. The walk may have seen this thread
// running a moment ago and signalled it; the signal then lands here, not in
// the blocking call (where it would cause EINTR) or across an exec (where it
// would kill the new image). NOT async-signal-safe.
void settle_on_entry(Record* r);

// Saves rip (the label below), rsp, rbp, rbx, r12-r15 of the current frame.
#define TS_SAVE_REGS(regs)                                              \
  __asm__ volatile(                                                     \
      "leaq 1f(%%rip), %%rax\n\t"                                       \
      "movq %%rax, %c[rip](%[p])\n\t"                                   \
      "movq %%rsp, %c[rsp](%[p])\n\t"                                   \
      "movq %%rbp, %c[rbp](%[p])\n\t"                                   \
      "movq %%rbx, %c[rbx](%[p])\n\t"                                   \
      "movq %%r12, %c[r12](%[p])\n\t"                                   \
      "movq %%r13, %c[r13](%[p])\n\t"                                   \
      "movq %%r14, %c[r14](%[p])\n\t"                                   \
      "movq %%r15, %c[r15](%[p])\n\t"                                   \
      "1:\n\t"                                                          \
      :                                                                 \
      : [p] "r"(regs), [rip] "i"(kRIP * 8), [rsp] "i"(kRSP * 8),        \
        [rbp] "i"(kRBP * 8), [rbx] "i"(kRBX * 8), [r12] "i"(kR12 * 8),  \
        [r13] "i"(kR13 * 8), [r14] "i"(kR14 * 8), [r15] "i"(kR15 * 8)   \
      : "rax", "memory")

class BlockScope {
 public:
  TS_ALWAYS_INLINE BlockScope(Record* r, uint32_t call, uintptr_t obj, uintptr_t obj2) : r_(r) {
    ++t_depth;
    r->call = call;
    r->obj = obj;
    r->obj2 = obj2;
    g_obj[r->index].store(obj, std::memory_order_relaxed);
    r->since_ns = now_ns();
    TS_SAVE_REGS(r->regs);
    g_state[r->index].store(state_word(kBlocked, call), std::memory_order_seq_cst);
    if (TS_UNLIKELY(g_active.load(std::memory_order_seq_cst))) settle_on_entry(r);
    if (TS_UNLIKELY(g_entry_work.load(std::memory_order_relaxed))) entry_work_slow();
  }
  TS_ALWAYS_INLINE void leave() {
    // Dekker with the dumper's publish of g_active: seq_cst on both sides.
    g_state[r_->index].store(state_word(kRunning), std::memory_order_seq_cst);
    if (TS_UNLIKELY(g_active.load(std::memory_order_seq_cst))) barrier_slow(r_);
    --t_depth;
    left_ = true;
  }
  ~BlockScope() {
    if (!left_) leave();
  }
  BlockScope(const BlockScope&) = delete;
  BlockScope& operator=(const BlockScope&) = delete;

 private:
  Record* r_;
  bool left_ = false;
};

}  // namespace threadsnap::detail
