// threadsnap (base layer): TS_DCHECK, a check of what the protocol assumes.
//
// Compiled into the sanitizer build only (`make check-asan` defines
// TS_DCHECKS), never into the library users run: there a broken assumption
// must cost a truncated or partial dump, not the host program (Go's runtime
// throws only on its own broken invariants; so do we, in tests).
// Any context: on failure, one raw write to fd 2 and SIGABRT to the calling
// thread; no allocation, no lock.
#pragma once

#include <signal.h>

#include "base/raw.h"

namespace threadsnap::detail {

[[noreturn]] inline void dcheck_failed(const char* what, const char* file, int line) {
  Line l;
  l.s("threadsnap: DCHECK failed: ").s(what).s(" (").s(file).c(':').u(static_cast<uint64_t>(line))
      .s(")\n");
  raw_write(2, l.data(), l.size());
  raw_tgkill(raw_getpid(), raw_gettid(), SIGABRT);
  __builtin_trap();
}

}  // namespace threadsnap::detail

#if defined(TS_DCHECKS)
#define TS_DCHECK(cond)                                                              \
  do {                                                                               \
    if (TS_UNLIKELY(!(cond))) ::threadsnap::detail::dcheck_failed(#cond, __FILE__, __LINE__); \
  } while (0)
#else
#define TS_DCHECK(cond) \
  do {                  \
    (void)sizeof(!(cond)); \
  } while (0)
#endif
