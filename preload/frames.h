// threadsnap: which frames of a capture a dump shows.
//
// The unwinder (unwind/) turns a stack copy into every frame it finds; the
// rules of the snapshot protocol about them live here: threadsnap's own
// frames (the wrapper of a blocked thread, our handlers) are dropped, and
// the first frame shown is marked as a PC or a return address (one rule,
// written to the dump as `first=pc`).
// Dumper: on the dumper thread, outside any stop in `concurrent` mode.
#pragma once

#include <cstdint>

#include "preload/registry.h"

namespace threadsnap::detail {

// The stack copy in c, the slot of `index`, for the unwinder. Any context.
StackCopy stack_copy_of(Capture* c, uint32_t index);

// Fills c->frames / c->nframes from the stack copy of c, the slot of
// `index`. Frames in threadsnap's own code are dropped; at most
// max_frames, and no more than the slot holds less 8.
void unwind_capture(Capture* c, uint32_t index, uint32_t max_frames, bool use_fp);

}  // namespace threadsnap::detail
