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

// The stack copy in c's slot, for the unwinder. Any context.
StackCopy stack_copy_of(Capture* c);

// Fills c->frames / c->nframes from c's stack copy. Frames in threadsnap's
// own code are dropped.
void unwind_capture(Capture* c, uint32_t max_frames, bool use_fp);

}  // namespace threadsnap::detail
