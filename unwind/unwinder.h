// threadsnap: turns a stack copy (registers + stack bytes) into frames.
//
// Plain types only: it knows nothing of threads or of the snapshot protocol;
// which frames a dump shows (threadsnap's own are dropped) is decided in
// preload/frames.cpp. Dumper: runs on the dumper thread only, never in a signal handler and, in
// `concurrent` mode, never while threads are stopped. DWARF unwinding uses
// libunwind's remote interface (loaded RTLD_LOCAL so its _Unwind_* never
// enter the program's scope) with our own accessors: stack reads come from
// the copy, code and unwind tables from a page cache filled with
// process_vm_readv, so a module unloaded meanwhile cannot crash us.
#pragma once

#include <signal.h>

#include <cstdint>

#include "unwind/stack_copy.h"

namespace threadsnap::detail {

bool unwinder_init();                     // once, at start-up
// Called on a thread that keeps every signal blocked for good (the dumper):
// libunwind's block-all-and-restore around its cache lock is then skipped
// there (see unwinder.cpp). False if this thread's mask is not all-blocked.
bool unwinder_thread_keeps_signals_blocked();
// Tests: what libunwind-x86_64 now calls for sigprocmask (null if its slot
// was not found).
using LibunwindSigprocmask = int (*)(int, const sigset_t*, sigset_t*);
LibunwindSigprocmask unwinder_libunwind_sigprocmask();
void unwinder_begin(bool modules_changed);  // before each dump's unwinding
// DWARF unwinding applies per-PC rules probed from libunwind (unwinder.cpp)
// unless switched off (tests and the bench compare both ways). With
// unwinder_check_rules(true) every unwind by rules is also done by libunwind
// and compared (THREADSNAP_TEST_UNWIND_CHECK); the counts are in the stats.
void unwinder_use_rules(bool on);
void unwinder_check_rules(bool on);
struct UnwindRuleStats {
  uint64_t hits, probes, by_rules, by_libunwind, checked, differed;
  uint32_t first_diff_rules_n, first_diff_libunwind_n;  // frame counts of the first difference
};
UnwindRuleStats unwinder_rule_stats();
// Unwinds s into out (at most max frames), every frame kept, and returns
// how many. out[0] is the exact PC of regs[kRIP]; every other frame is a
// return address, except the one right after a signal trampoline frame,
// which is the exact PC the signal interrupted. *first_sigframe (if given)
// gets the index of the first signal trampoline frame (DWARF only), or ~0u.
uint32_t unwind_raw(const StackCopy& s, uintptr_t* out, uint32_t max, bool use_fp,
                    uint32_t* first_sigframe = nullptr);

}  // namespace threadsnap::detail
