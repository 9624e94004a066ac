// threadsnap: register and stack copies; see stack_copy.h.
#include "unwind/stack_copy.h"

#include <sys/uio.h>

#include <atomic>
#include <cstring>

#include "base/raw.h"

namespace threadsnap::detail {

namespace {
std::atomic<int> g_vm_read_works{1};
}

void safe_read_forbid() { g_vm_read_works.store(0, std::memory_order_relaxed); }
bool seccomp_seen() { return !g_vm_read_works.load(std::memory_order_relaxed); }

long safe_read(uintptr_t addr, void* out, size_t n) {
  if (!g_vm_read_works.load(std::memory_order_relaxed)) return -1;
  // One remote iovec per page: a fault ends the copy at a page boundary
  // instead of failing the whole element. Eight pages per call, so that
  // the frame stays small: this runs in our stop handler, which may be on
  // a program's 8 KiB alternate signal stack above the program's own
  // handler (two kernel signal frames of AT_MINSIGSTKSZ, 3.6 KiB each with
  // AVX-512, leave under 1 KiB).
  long total = 0;
  uintptr_t p = addr, end = addr + n;
  while (p < end) {
    iovec remote[8];
    int cnt = 0;
    uintptr_t from = p;
    while (p < end && cnt < 8) {
      uintptr_t next = (p & ~uintptr_t{4095}) + 4096;
      if (next > end) next = end;
      remote[cnt++] = {reinterpret_cast<void*>(p), next - p};
      p = next;
    }
    iovec local = {static_cast<char*>(out) + (from - addr), p - from};
    // Our own thread's id, not the process's: once the main thread has
    // ended (pthread_exit) the thread group leader has no memory map left,
    // and process_vm_readv on its pid fails with ESRCH (every copy that
    // needed this read came back empty: frameless threads).
    long got = raw_syscall6(SYS_process_vm_readv, raw_gettid(), reinterpret_cast<long>(&local), 1,
                            reinterpret_cast<long>(remote), cnt, 0);
    if (got == -ENOSYS || got == -EPERM) {
      g_vm_read_works.store(0, std::memory_order_relaxed);
      return -1;
    }
    if (got <= 0) break;
    total += got;
    if (static_cast<uintptr_t>(got) < p - from) break;  // a fault: stop at that page
  }
  return total;
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

TS_NO_ASAN void copy_stack(StackBounds b, uintptr_t sp, unsigned char* dst, size_t cap,
                           uintptr_t* base, uint32_t* len) {
  uintptr_t lo = sp - 128;
  *base = lo;
  *len = 0;
  bool on_stack = b.hi && sp >= b.lo && sp < b.hi;
  // On the thread's own stack everything from sp up to the top is mapped,
  // so a plain copy cannot fault, as long as the red zone below sp lies in
  // sp's own page (the page below may be the guard, or not yet mapped on the
  // main thread's growing stack).
  if (on_stack && (lo >> 12) == (sp >> 12)) {
    uintptr_t hi = b.hi - lo > cap ? lo + cap : b.hi;
    raw_copy(dst, lo, hi - lo);
    *len = static_cast<uint32_t>(hi - lo);
    return;
  }
  // Otherwise (the red zone crosses a page, an alternate signal stack, a
  // thread we did not see start): read what is mapped.
  size_t want = on_stack && b.hi - lo < cap ? b.hi - lo : cap;
  long got = safe_read(lo, dst, want);
  if (got == 0) {  // the red zone's page is not mapped
    lo = sp;
    got = safe_read(lo, dst, want - 128);
  }
  if (got > 0) {
    *base = lo;
    *len = static_cast<uint32_t>(got);
  } else if (got < 0 && on_stack) {
    // No process_vm_readv (seccomp): from sp's own page up is mapped.
    lo = sp & ~uintptr_t{4095};
    uintptr_t hi = b.hi - lo > cap ? lo + cap : b.hi;
    raw_copy(dst, lo, hi - lo);
    *base = lo;
    *len = static_cast<uint32_t>(hi - lo);
  }
}

void regs_from_saved(uint64_t* regs, const uint64_t* saved) {
  memset(regs, 0, sizeof(uint64_t) * kNumRegs);
  for (int reg : {kRIP, kRSP, kRBP, kRBX, kR12, kR13, kR14, kR15}) regs[reg] = saved[reg];
}

void regs_from_ucontext(uint64_t* regs, const ucontext_t* uc) {
  const greg_t* g = uc->uc_mcontext.gregs;
  regs[kRAX] = g[REG_RAX];
  regs[kRDX] = g[REG_RDX];
  regs[kRCX] = g[REG_RCX];
  regs[kRBX] = g[REG_RBX];
  regs[kRSI] = g[REG_RSI];
  regs[kRDI] = g[REG_RDI];
  regs[kRBP] = g[REG_RBP];
  regs[kRSP] = g[REG_RSP];
  regs[kR8] = g[REG_R8];
  regs[kR9] = g[REG_R9];
  regs[kR10] = g[REG_R10];
  regs[kR11] = g[REG_R11];
  regs[kR12] = g[REG_R12];
  regs[kR13] = g[REG_R13];
  regs[kR14] = g[REG_R14];
  regs[kR15] = g[REG_R15];
  regs[kRIP] = g[REG_RIP];
}

}  // namespace threadsnap::detail
