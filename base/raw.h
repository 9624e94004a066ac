// threadsnap: the base layer's primitives: raw system calls, clocks, futex
// words, threadsnap's own lock and a fixed-size line builder.
//
// Every layer may include this (shim -> preload -> unwind -> base); it
// includes nothing of ours. Everything here is Any context unless its
// comment says otherwise: no allocation, no locks, no stdio; the raw
// calls return -errno and never write errno. Code uses these instead of libc's wrappers so that it never
// re-enters our own interposed symbols.
//
// Safety labels, used on every function that can run outside ordinary
// program code (STYLE.md):
// - Any context: a signal handler, ours or the program's (through a
//   wrapper), may reach it. Atomics, raw system calls and futex waits on our
//   own words only; no allocation, no lock; errno saved where it may change.
// - Stop path: runs while other threads are held (stop 1, or the whole stop
//   of `stw`). As above, plus bounded waits only; the registry lock may be
//   held by the dumper itself, never waited for by a held thread.
// - Dumper: the dumper thread outside any stop. May allocate from our heap
//   (base/alloc.h), read /proc, call libunwind and the loader.
// - Ordinary context: program or start-up code outside any handler and any
//   stop (a wrapper's slow path, registration, the constructor, a fork
//   handler): it may take our own registry lock and mmap, but never a lock
//   of the program's. Code with no label runs there.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TS_EXPORT extern "C" __attribute__((visibility("default")))
#define TS_TLS __attribute__((tls_model("initial-exec")))
#define TS_LIKELY(x) __builtin_expect(!!(x), 1)
#define TS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TS_ALWAYS_INLINE inline __attribute__((always_inline))
#define TS_NOINLINE __attribute__((noinline))
// For code that reads memory ASan would call out of bounds on purpose
// (another thread's raw stack, a jmp_buf's mangled words).
#if defined(__SANITIZE_ADDRESS__)
#define TS_NO_ASAN __attribute__((no_sanitize("address")))
#else
#define TS_NO_ASAN
#endif

namespace threadsnap::detail {

// Raw syscalls: they bypass the PLT, so they never land in our wrappers, and
// they leave errno alone only if the caller saves it (callers do).
inline long raw_syscall6(long n, long a, long b, long c, long d, long e, long f) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;  // -errno on failure
}
inline long raw_syscall(long n, long a = 0, long b = 0, long c = 0, long d = 0) {
  return raw_syscall6(n, a, b, c, d, 0, 0);
}

inline pid_t raw_gettid() { return static_cast<pid_t>(raw_syscall(SYS_gettid)); }
inline pid_t raw_getpid() { return static_cast<pid_t>(raw_syscall(SYS_getpid)); }
inline long raw_write(int fd, const void* p, size_t n) {
  return raw_syscall(SYS_write, fd, reinterpret_cast<long>(p), static_cast<long>(n));
}
inline long raw_tgkill(pid_t pid, pid_t tid, int sig) {
  return raw_syscall(SYS_tgkill, pid, tid, sig);
}

// Monotonic nanoseconds (vDSO; no syscall on this kernel). Any context.
inline uint64_t now_ns(clockid_t clk = CLOCK_MONOTONIC) {
  timespec ts;
  clock_gettime(clk, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// A spin-wait hint to the CPU (x86 `pause`). Any context.
inline void cpu_relax() { __builtin_ia32_pause(); }

// Futex wait/wake on a 32-bit word. Private futexes: our words never live in
// shared memory. Any context.
inline long futex_wait(std::atomic<uint32_t>* w, uint32_t expected, const timespec* rel = nullptr) {
  return raw_syscall(SYS_futex, reinterpret_cast<long>(w), FUTEX_WAIT_PRIVATE, expected,
                     reinterpret_cast<long>(rel));
}
inline void futex_wake_all(std::atomic<uint32_t>* w) {
  raw_syscall(SYS_futex, reinterpret_cast<long>(w), FUTEX_WAKE_PRIVATE, 0x7fffffff);
}

// A mutex that is threadsnap's own: no application thread can hold it while
// we need it, and it never goes through our pthread wrappers.
// Not to be taken in a signal handler.
class SpinFutexLock {
 public:
  void lock() {
    uint32_t c = 0;
    if (word_.compare_exchange_strong(c, 1, std::memory_order_acquire)) return;
    if (c != 2) c = word_.exchange(2, std::memory_order_acquire);
    while (c != 0) {
      futex_wait(&word_, 2);
      c = word_.exchange(2, std::memory_order_acquire);
    }
  }
  void unlock() {
    if (word_.exchange(0, std::memory_order_release) == 2) futex_wake_one();
  }
  // Fork child only; writes nothing when the lock is already free (a page
  // written in a fork child costs it a copy-on-write fault).
  void reset() {
    if (word_.load(std::memory_order_relaxed)) word_.store(0, std::memory_order_relaxed);
  }

 private:
  void futex_wake_one() {
    raw_syscall(SYS_futex, reinterpret_cast<long>(&word_), FUTEX_WAKE_PRIVATE, 1);
  }
  std::atomic<uint32_t> word_{0};
};

// A fixed-size line builder for stderr and the dump writer's small pieces.
// Any context.
class Line {
 public:
  Line& s(const char* str) {
    while (str && *str && n_ < sizeof(buf_) - 1) buf_[n_++] = *str++;
    return *this;
  }
  Line& c(char ch) {
    if (n_ < sizeof(buf_) - 1) buf_[n_++] = ch;
    return *this;
  }
  Line& u(uint64_t v) {
    char tmp[24];
    int i = 0;
    do { tmp[i++] = static_cast<char>('0' + v % 10); v /= 10; } while (v);
    while (i) c(tmp[--i]);
    return *this;
  }
  Line& i(int64_t v) {
    if (v < 0) { c('-'); return u(static_cast<uint64_t>(-v)); }
    return u(static_cast<uint64_t>(v));
  }
  Line& x(uint64_t v) {
    s("0x");
    char tmp[20];
    int i = 0;
    do { tmp[i++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
    while (i) c(tmp[--i]);
    return *this;
  }
  const char* data() { buf_[n_] = 0; return buf_; }
  size_t size() const { return n_; }

 private:
  char buf_[1024];
  size_t n_ = 0;
};

}  // namespace threadsnap::detail
