// threadsnap: the raw part of a capture: registers and a bounded copy of the
// stack, into the thread's slot (memory set aside at registration).
//
// Whoever claims a thread calls these: its own signal handler, the thread in
// its wrapper, or the dumper during the sweep. No allocation, no locks, no
// unwinding. Async-signal-safe.
#pragma once

#include <ucontext.h>

#include "preload/registry.h"

namespace threadsnap::detail {

// Copies the stack of r from sp - 128 (the red zone) upward into c's slot.
// Async-signal-safe.
void copy_stack(const Record* r, Capture* c, uintptr_t sp);

// Registers of an interrupted thread. Async-signal-safe.
void regs_from_ucontext(Capture* c, const ucontext_t* uc);

// Registers a wrapper saved in r (TS_SAVE_REGS: rip rsp rbp rbx r12-r15; the
// others are zero). Async-signal-safe.
void regs_from_record(Capture* c, const Record* r);

// Safe read of our own memory (process_vm_readv): returns bytes read, 0 on
// a fault, -1 if the call is unavailable. Async-signal-safe.
long safe_read(uintptr_t addr, void* out, size_t n);
// From now on safe_read answers -1 without a system call: a seccomp filter
// is (or is about to be) installed, and may kill on process_vm_readv.
// Async-signal-safe.
void safe_read_forbid();

}  // namespace threadsnap::detail
