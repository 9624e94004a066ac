// threadsnap: turns a capture (registers + stack copy) into return addresses.
//
// Runs on the dumper thread only, never in a signal handler and, in
// `concurrent` mode, never while threads are stopped. DWARF unwinding uses
// libunwind's remote interface (loaded RTLD_LOCAL so its _Unwind_* never
// enter the program's scope) with our own accessors: stack reads come from
// the copy, code and unwind tables from a page cache filled with
// process_vm_readv, so a module unloaded meanwhile cannot crash us.
// NOT async-signal-safe.
#pragma once

#include <signal.h>

#include "preload/registry.h"

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
void unwinder_end();                         // after it
// DWARF unwinding applies per-PC rules probed from libunwind (unwinder.cpp)
// unless switched off (tests and the bench compare both ways).
void unwinder_use_rules(bool on);
struct UnwindRuleStats {
  uint64_t hits, probes, by_rules, by_libunwind;
};
UnwindRuleStats unwinder_rule_stats();
// Unwinds c into out, every frame kept (threadsnap's own too).
uint32_t unwind_raw(Capture* c, uintptr_t* out, uint32_t max, bool use_fp);
// Fills c->frames / c->nframes. Frames in threadsnap's own code are dropped.
void unwind_capture(Capture* c, uint32_t max_frames, bool use_fp);

}  // namespace threadsnap::detail
