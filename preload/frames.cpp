// threadsnap: which frames of a capture a dump shows; see frames.h.
#include "preload/frames.h"

#include <cstring>

#include "base/check.h"
#include "preload/config.h"
#include "unwind/modules.h"
#include "unwind/unwinder.h"

namespace threadsnap::detail {

StackCopy stack_copy_of(Capture* c, uint32_t index) {
  StackCopy s;
  memcpy(s.regs, c->regs, sizeof(s.regs));
  s.base = c->copy_base;
  s.len = c->copy_len;
  s.bytes = slot_bytes(index);
  return s;
}

void unwind_capture(Capture* c, uint32_t index, uint32_t max_frames, bool use_fp) {
  TS_DCHECK(c->copy_len <= slot_stack_capacity() && max_frames <= kMaxFramesLimit);
  uintptr_t* out = c->frames;
  // Unwind a few more than asked: our own frames are dropped below. The
  // slot was sized from the configuration (registry_configure); only a test
  // that changes it later asks for more.
  uint32_t limit = max_frames + 8 < slot_frames_capacity() ? max_frames + 8 : slot_frames_capacity();
  if (max_frames > limit) max_frames = limit;
  uint32_t first_sigframe = ~0u;
  uint32_t n = unwind_raw(stack_copy_of(c, index), out, limit, use_fp, &first_sigframe);
  // Drop threadsnap's frames: the wrapper at the top of a blocked thread's
  // stack (and, if a signal caught a thread inside a wrapper, the libc
  // frames below it), and the trampoline near the bottom.
  uint32_t first_ours = n, last_leading_ours = n;
  for (uint32_t i = 0; i < n; ++i) {
    if (pc_in_threadsnap(out[i])) {
      if (first_ours == n) first_ours = i;
      last_leading_ours = i;
    } else if (first_ours != n) {
      break;
    }
  }
  uint32_t skip = 0;
  if (first_ours != n && (first_ours == 0 || c->kind == kBlocked)) skip = last_leading_ours + 1;
  // Our stop signal caught the thread inside one of our own handlers (the
  // trigger's): past them is the kernel's signal trampoline, and past that
  // the PC the thread was really interrupted at.
  bool next_is_pc = false;
  if (skip && skip == first_sigframe && skip + 1 < n) {
    ++skip;
    next_is_pc = true;
  }
  uint32_t w = 0;
  for (uint32_t i = skip; i < n && w < max_frames; ++i)
    if (!pc_in_threadsnap(out[i])) out[w++] = out[i];
  // The one rule for the first frame (the dump's `first=pc`): a capture by
  // a signal handler (via=signal, and via=stw of a thread that was running)
  // starts at the PC the signal interrupted. Where our own frames were
  // dropped above a return address, that address is pointed into its call
  // instruction instead, so that it is still a PC of the caller and
  // symbolizes to the call's line. Every other first frame is a return
  // address, but the PC found past a signal trampoline.
  if (skip && w && c->interrupted && !next_is_pc) out[0] -= 1;
  c->first_pc = w && (c->interrupted || next_is_pc);
  c->nframes = w;
}

}  // namespace threadsnap::detail
