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

#include "preload/coordinator.h"
#include "preload/entry.h"
#include "preload/registry.h"

namespace threadsnap::detail {

// The scope of a wrapped call that was left without its destructor: the
// thread longjmp'ed out of the call from a signal handler. Leaves it as
// leave() does (state running, the barrier if a dump is active, t_depth
// back to 0: a scope opens only at depth 0). shim/longjmp.cpp.
// Any context (the barrier waits on our futexes only).
void leave_abandoned_scope(Record* r);

// At the entry of a wrapper while t_depth > 0, `frame` being the wrapper's
// own frame address: true if the scope that raised t_depth is still live
// (a genuine nested call: a signal handler that interrupted a wrapped call,
// on this stack below that wrapper's frame or on an alternate stack), false
// if that scope was abandoned by a jump we did not see (we are at or above
// its frame on the thread's own stack): it is then left, and this call is
// tracked. shim/longjmp.cpp.
bool outer_scope_live(Record* r, uintptr_t frame);

// True when a wrapper must pass straight through: the thread is untracked,
// or this is a nested call (see outer_scope_live).
#define TS_PASS_THROUGH(self) \
  (!(self) || (TS_UNLIKELY(t_depth) && \
               outer_scope_live(self, reinterpret_cast<uintptr_t>(__builtin_frame_address(0)))))

class BlockScope {
 public:
  TS_ALWAYS_INLINE BlockScope(Record* r, uint32_t call, uintptr_t obj, uintptr_t obj2)
      : r_(r), prev_depth_(t_depth) {
    t_depth = prev_depth_ + 1;
    CallDetail& d = call_detail(r);
    d.call = call;
    d.obj = obj;
    d.obj2 = obj2;
    g_obj[r->index].store(obj, std::memory_order_relaxed);
    d.since_ns = now_ns();
    TS_SAVE_REGS(d.regs);
    g_state[r->index].store(state_word(kBlocked, call), std::memory_order_seq_cst);
    if (TS_UNLIKELY(g_active.load(std::memory_order_seq_cst))) settle_on_entry(r);
    if (TS_UNLIKELY(g_entry_work.load(std::memory_order_relaxed))) entry_work_slow();
  }
  TS_ALWAYS_INLINE void leave() {
    // Dekker with the dumper's publish of g_active: seq_cst on both sides.
    g_state[r_->index].store(state_word(kRunning), std::memory_order_seq_cst);
    if (TS_UNLIKELY(g_active.load(std::memory_order_seq_cst))) barrier_slow(r_);
    // The depth found on entry, not a decrement: a fork child resets t_depth
    // to 0 (registry_after_fork_child) inside a handler that interrupted
    // this call, and must not reach -1 when the handler returns here.
    t_depth = prev_depth_;
    left_ = true;
  }
  ~BlockScope() {
    if (!left_) leave();
  }
  BlockScope(const BlockScope&) = delete;
  BlockScope& operator=(const BlockScope&) = delete;

 private:
  Record* r_;
  int prev_depth_;
  bool left_ = false;
};

}  // namespace threadsnap::detail
