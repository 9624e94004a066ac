// threadsnap: longjmp out of a wrapped call.
//
// A program's signal handler may siglongjmp out of a blocked call (read,
// say). The wrapper's scope then never ends: t_depth stays raised, so every
// later wrapped call of that thread passed through untracked, and the
// thread stayed "blocked in read" for ever. Two remedies:
//
// (a) siglongjmp, longjmp, _longjmp and __longjmp_chk are wrapped: when the
//     thread is inside a wrapper and the jump's target stack pointer lies
//     above the wrapper's saved one (the jump leaves the wrapper's frame),
//     the scope is left properly first (leave_abandoned_scope).
// (b) for jumps we cannot see (__builtin_longjmp, a private longjmp), a
//     wrapper entered with t_depth > 0 checks whether it runs at or above
//     the frame of the scope that raised t_depth, on the thread's own stack
//     (outer_scope_live): then that scope is gone and is left now.
//
// The target stack pointer is in the jmp_buf, mangled by glibc's
// PTR_MANGLE on x86-64 (glibc 2.36 sysdeps/x86_64/setjmp.S and
// __longjmp.S, jmpbuf-offsets.h: JB_RSP is word 6; mangling is an xor with
// the pointer guard at %fs:0x30, then rol $0x11). A self-check at first use
// (setjmp in a known frame, demangle, compare with the real rsp) turns (a)
// off if that does not hold; (b) does not depend on it.
#include <setjmp.h>

#include <atomic>

#include "preload/common.h"
#include "shim/block_scope.h"
#include "shim/calls.h"

using namespace threadsnap::detail;


namespace {

constexpr int kJbRsp = 6;  // glibc sysdeps/x86_64/jmpbuf-offsets.h
static_assert(sizeof(((struct __jmp_buf_tag*)nullptr)->__jmpbuf) == 8 * sizeof(long),
              "x86-64 glibc jmp_buf: 8 words");

using jump_fn = void (*)(struct __jmp_buf_tag*, int);
std::atomic<jump_fn> g_real_siglongjmp{nullptr}, g_real_longjmp{nullptr},
    g_real__longjmp{nullptr}, g_real_longjmp_chk{nullptr};

inline uintptr_t demangle(uintptr_t v) {
  uintptr_t guard;
  __asm__("movq %%fs:0x30, %0" : "=r"(guard));
  v = (v >> 0x11) | (v << (64 - 0x11));  // ror $0x11
  return v ^ guard;
}

TS_NO_ASAN uintptr_t jmpbuf_rsp(const struct __jmp_buf_tag* env) {
  return demangle(static_cast<uintptr_t>(env->__jmpbuf[kJbRsp]));
}

// _setjmp in this frame saves this frame's rsp (setjmp's caller's rsp after
// the call returns): demangled, it must be the rsp read here.
TS_NOINLINE TS_NO_ASAN bool layout_self_check() {
  jmp_buf jb;
  uintptr_t sp;
  __asm__ volatile("movq %%rsp, %0" : "=r"(sp));
  if (_setjmp(jb) != 0) return false;  // never jumped to
  uintptr_t saved = jmpbuf_rsp(&jb[0]);
  return saved + 64 >= sp && saved <= sp + 64;
}

std::atomic<int> g_layout{0};  // 0 unknown, 1 checked and good, 2 bad

bool layout_ok() {
  int v = g_layout.load(std::memory_order_relaxed);
  if (!v) {
    v = layout_self_check() ? 1 : 2;
    g_layout.store(v, std::memory_order_relaxed);
  }
  return v == 1;
}

bool on_own_stack(const Record* r, uintptr_t sp) {
  return r->stack_lo && r->stack_hi && sp >= r->stack_lo && sp < r->stack_hi;
}

// Before a jump: leaves the wrapper scope it jumps out of.
void before_jump(struct __jmp_buf_tag* env) {
  Record* r = t_self;
  if (TS_LIKELY(!r || !t_depth) || !layout_ok()) return;
  int saved = errno;
  uintptr_t target = jmpbuf_rsp(env);
  uintptr_t scope_sp = call_detail(r).regs[kRSP];
  bool known = r->stack_lo && r->stack_hi;
  if (target > scope_sp && (!known || on_own_stack(r, target))) leave_abandoned_scope(r);
  errno = saved;
}

}  // namespace

namespace threadsnap::detail {

// Resolved with the others, before threads start: a jump from a signal
// handler must not be the first to call dlsym.
void resolve_longjmp_real() {
  real_fn(g_real_siglongjmp, "siglongjmp");
  real_fn(g_real_longjmp, "longjmp");
  real_fn(g_real__longjmp, "_longjmp");
  real_fn(g_real_longjmp_chk, "__longjmp_chk");
  layout_ok();
}

void leave_abandoned_scope(Record* r) {
  leave_own_claim(r);
  g_state[r->index].store(state_word(kRunning), std::memory_order_seq_cst);
  if (TS_UNLIKELY(g_active.load(std::memory_order_seq_cst))) barrier_slow(r);
  t_depth = 0;
}

bool outer_scope_live(Record* r, uintptr_t frame) {
  // A live scope's frame is above us (a handler runs below the frame it
  // interrupted) or we are on another stack (sigaltstack). At or above the
  // scope's saved rsp on the thread's own stack, its frame is gone.
  if (!on_own_stack(r, frame) || frame <= call_detail(r).regs[kRSP]) return true;
  int saved = errno;
  leave_abandoned_scope(r);
  errno = saved;
  return false;
}

}  // namespace threadsnap::detail

// Not noexcept, and no frame of ours stays: each calls the real jump.
TS_EXPORT void siglongjmp(struct __jmp_buf_tag* env, int val) {
  jump_fn fn = real_fn(g_real_siglongjmp, "siglongjmp");
  before_jump(env);
  fn(env, val);
  __builtin_unreachable();
}

TS_EXPORT void longjmp(struct __jmp_buf_tag* env, int val) {
  jump_fn fn = real_fn(g_real_longjmp, "longjmp");
  before_jump(env);
  fn(env, val);
  __builtin_unreachable();
}

TS_EXPORT void _longjmp(struct __jmp_buf_tag* env, int val) {
  jump_fn fn = real_fn(g_real__longjmp, "_longjmp");
  before_jump(env);
  fn(env, val);
  __builtin_unreachable();
}

// What longjmp and siglongjmp become under _FORTIFY_SOURCE.
TS_EXPORT void __longjmp_chk(struct __jmp_buf_tag* env, int val) {
  jump_fn fn = real_fn(g_real_longjmp_chk, "__longjmp_chk");
  before_jump(env);
  fn(env, val);
  __builtin_unreachable();
}
