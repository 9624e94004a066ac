// threadsnap: register and stack capture; see capture.h.
#include "unwind/capture.h"

#include <sys/uio.h>

#include <cstring>

#include "preload/config.h"

namespace threadsnap::detail {

namespace {
std::atomic<int> g_vm_read_works{1};
}

void safe_read_forbid() { g_vm_read_works.store(0, std::memory_order_relaxed); }

long safe_read(uintptr_t addr, void* out, size_t n) {
  if (!g_vm_read_works.load(std::memory_order_relaxed)) return -1;
  // One remote iovec per page: a fault ends the copy at a page boundary
  // instead of failing the whole element.
  iovec local = {out, n};
  iovec remote[32];
  int cnt = 0;
  uintptr_t p = addr, end = addr + n;
  while (p < end && cnt < 32) {
    uintptr_t next = (p & ~uintptr_t{4095}) + 4096;
    if (next > end) next = end;
    remote[cnt++] = {reinterpret_cast<void*>(p), next - p};
    p = next;
  }
  local.iov_len = p - addr;
  long got = raw_syscall6(SYS_process_vm_readv, raw_getpid(), reinterpret_cast<long>(&local), 1,
                          reinterpret_cast<long>(remote), cnt, 0);
  if (got == -ENOSYS || got == -EPERM) {
    g_vm_read_works.store(0, std::memory_order_relaxed);
    return -1;
  }
  return got < 0 ? 0 : got;
}

// Reads another thread's raw stack, redzones and dead frames included, on
// purpose: under AddressSanitizer that must be neither instrumented nor go
// through its memcpy interceptor (TS_NO_ASAN).

namespace {
TS_NO_ASAN void raw_copy(void* dst, uintptr_t src, size_t n) {
#if defined(__SANITIZE_ADDRESS__)
  auto* d = static_cast<volatile unsigned char*>(dst);
  auto* s = reinterpret_cast<const volatile unsigned char*>(src);
  for (size_t i = 0; i < n; ++i) d[i] = s[i];
#else
  __builtin_memcpy(dst, reinterpret_cast<const void*>(src), n);
#endif
}
}  // namespace

TS_NO_ASAN void copy_stack(const Record* r, Capture* c, uintptr_t sp) {
  unsigned char* dst = slot_bytes(c);
  size_t cap = slot_stack_capacity();
  uintptr_t lo = sp - 128;
  c->copy_base = lo;
  c->copy_len = 0;
  bool on_stack = r->stack_hi && sp >= r->stack_lo && sp < r->stack_hi;
  // On the thread's own stack everything from sp up to the top is mapped,
  // so a plain copy cannot fault, as long as the red zone below sp lies in
  // sp's own page (the page below may be the guard, or not yet mapped on the
  // main thread's growing stack).
  if (on_stack && (lo >> 12) == (sp >> 12)) {
    uintptr_t hi = r->stack_hi - lo > cap ? lo + cap : r->stack_hi;
    raw_copy(dst, lo, hi - lo);
    c->copy_len = static_cast<uint32_t>(hi - lo);
    return;
  }
  // Otherwise (the red zone crosses a page, an alternate signal stack, a
  // thread we did not see start): read what is mapped.
  size_t want = on_stack && r->stack_hi - lo < cap ? r->stack_hi - lo : cap;
  long got = safe_read(lo, dst, want);
  if (got == 0) {  // the red zone's page is not mapped
    lo = sp;
    got = safe_read(lo, dst, want - 128);
  }
  if (got > 0) {
    c->copy_base = lo;
    c->copy_len = static_cast<uint32_t>(got);
  } else if (got < 0 && on_stack) {
    // No process_vm_readv (seccomp): from sp's own page up is mapped.
    lo = sp & ~uintptr_t{4095};
    uintptr_t hi = r->stack_hi - lo > cap ? lo + cap : r->stack_hi;
    raw_copy(dst, lo, hi - lo);
    c->copy_base = lo;
    c->copy_len = static_cast<uint32_t>(hi - lo);
  }
}

void regs_from_record(Capture* c, const Record* r) {
  memset(c->regs, 0, sizeof(c->regs));
  for (int reg : {kRIP, kRSP, kRBP, kRBX, kR12, kR13, kR14, kR15}) c->regs[reg] = r->regs[reg];
}

void regs_from_ucontext(Capture* c, const ucontext_t* uc) {
  const greg_t* g = uc->uc_mcontext.gregs;
  c->regs[kRAX] = g[REG_RAX];
  c->regs[kRDX] = g[REG_RDX];
  c->regs[kRCX] = g[REG_RCX];
  c->regs[kRBX] = g[REG_RBX];
  c->regs[kRSI] = g[REG_RSI];
  c->regs[kRDI] = g[REG_RDI];
  c->regs[kRBP] = g[REG_RBP];
  c->regs[kRSP] = g[REG_RSP];
  c->regs[kR8] = g[REG_R8];
  c->regs[kR9] = g[REG_R9];
  c->regs[kR10] = g[REG_R10];
  c->regs[kR11] = g[REG_R11];
  c->regs[kR12] = g[REG_R12];
  c->regs[kR13] = g[REG_R13];
  c->regs[kR14] = g[REG_R14];
  c->regs[kR15] = g[REG_R15];
  c->regs[kRIP] = g[REG_RIP];
}

}  // namespace threadsnap::detail
