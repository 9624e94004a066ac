// threadsnap: vfork.
//
// A vfork child shares its parent's memory and TLS until it execs or exits,
// so it sees the parent's t_self: its wrapped calls (a write before _exit, a
// wait) would change the parent's record and could even wait in the barrier
// for a dump that waits for the parent, which the kernel holds until the
// child execs (up to the stop timeout). So vfork clears t_self for the child
// and restores it in the parent. It cannot be a C function: the child returns
// first and reuses the stack below it, so the return address and the saved
// t_self live in thread-local storage, as glibc's own vfork keeps its return
// address in a register (sanitizers intercept vfork the same way).
#include <unistd.h>

#include <atomic>

#include "preload/common.h"
#include "preload/registry.h"
#include "shim/calls.h"

extern "C" {
__attribute__((visibility("hidden"))) __thread void* threadsnap_vfork_ret
    __attribute__((tls_model("initial-exec")));
__attribute__((visibility("hidden"))) void* threadsnap_real_vfork = nullptr;
}

namespace threadsnap::detail {
void resolve_vfork_real() {
  if (!threadsnap_real_vfork) threadsnap_real_vfork = resolve_next("vfork", nullptr);
}
}  // namespace threadsnap::detail

// t_self is threadsnap::detail::t_self (initial-exec TLS).
__asm__(R"(
    .text
    .globl vfork
    .type vfork, @function
vfork:
    movq threadsnap_vfork_ret@gottpoff(%rip), %rcx
    popq %fs:(%rcx)
    movq _ZN10threadsnap6detail6t_selfE@gottpoff(%rip), %rcx
    movq %fs:(%rcx), %rdx
    movq threadsnap_vfork_self@gottpoff(%rip), %rsi
    movq %rdx, %fs:(%rsi)
    movq $0, %fs:(%rcx)
    call *threadsnap_real_vfork(%rip)
    testl %eax, %eax
    je 1f
    movq threadsnap_vfork_self@gottpoff(%rip), %rsi
    movq %fs:(%rsi), %rdx
    movq _ZN10threadsnap6detail6t_selfE@gottpoff(%rip), %rcx
    movq %rdx, %fs:(%rcx)
1:
    movq threadsnap_vfork_ret@gottpoff(%rip), %rcx
    jmp *%fs:(%rcx)
    .size vfork, .-vfork
)");
