// threadsnap: a stack copy (registers plus a bounded copy of the live stack
// from the red zone upward), and how to take one.
//
// Plain types only: this knows nothing of threads, records or the snapshot
// protocol (preload/ decides whose stack is copied, when, and into which
// memory). Whoever claims a thread calls these: its own signal handler, the
// thread in its wrapper, or the dumper during the sweep.
// Any context: no allocation, no locks, no unwinding.
#pragma once

#include <ucontext.h>

#include <cstddef>
#include <cstdint>

namespace threadsnap::detail {

// libunwind's x86_64 register numbering.
enum Reg : int { kRAX, kRDX, kRCX, kRBX, kRSI, kRDI, kRBP, kRSP,
                 kR8, kR9, kR10, kR11, kR12, kR13, kR14, kR15, kRIP, kNumRegs };

// What the unwinder reads: the registers at the innermost frame and `len`
// bytes of stack that lived at [base, base + len). A view: `bytes` belongs
// to the caller.
struct StackCopy {
  uint64_t regs[kNumRegs];
  uintptr_t base;
  uint32_t len;
  const unsigned char* bytes;
};

// The stack the copy may read: [lo, hi), or 0,0 when unknown (then only
// what safe_read finds mapped is copied).
struct StackBounds {
  uintptr_t lo, hi;
};

// Copies the stack from sp - 128 (the red zone) upward, at most cap bytes,
// into dst; *base and *len say what was copied (len 0: nothing readable).
// Any context.
void copy_stack(StackBounds bounds, uintptr_t sp, unsigned char* dst, size_t cap,
                uintptr_t* base, uint32_t* len);

// Registers of an interrupted thread. Any context.
void regs_from_ucontext(uint64_t* regs, const ucontext_t* uc);

// Registers saved in a live frame by TS_SAVE_REGS (rip rsp rbp rbx
// r12-r15; the others are zero). Any context.
void regs_from_saved(uint64_t* regs, const uint64_t* saved);

// Saves rip (the label below), rsp, rbp, rbx, r12-r15 of the current frame
// into regs[kNumRegs]. Used in a frame that stays alive while the copy is
// taken (a wrapper's own frame): a frame that has returned gives a stale
// frame 0.
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
      : [p] "r"(regs), [rip] "i"(::threadsnap::detail::kRIP * 8),      \
        [rsp] "i"(::threadsnap::detail::kRSP * 8),                      \
        [rbp] "i"(::threadsnap::detail::kRBP * 8),                      \
        [rbx] "i"(::threadsnap::detail::kRBX * 8),                      \
        [r12] "i"(::threadsnap::detail::kR12 * 8),                      \
        [r13] "i"(::threadsnap::detail::kR13 * 8),                      \
        [r14] "i"(::threadsnap::detail::kR14 * 8),                      \
        [r15] "i"(::threadsnap::detail::kR15 * 8)                       \
      : "rax", "memory")

// Safe read of our own memory (process_vm_readv): returns bytes read, 0 on
// a fault, -1 if the call is unavailable. Any context.
long safe_read(uintptr_t addr, void* out, size_t n);
// From now on safe_read answers -1 without a system call: a seccomp filter
// is (or is about to be) installed, and may kill on process_vm_readv.
// Any context.
void safe_read_forbid();
// Whether safe_read_forbid was called: a seccomp filter is (or may be)
// installed, so the library leaves out the system calls it can do without
// (the dumper's sched_setattr). Any context.
bool seccomp_seen();

}  // namespace threadsnap::detail
