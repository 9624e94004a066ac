// threadsnap: the module map (every loaded ELF object, its executable
// segments, its .eh_frame_hdr and its build-id).
//
// Taken on the dumper thread before stop 1 with dl_iterate_phdr (which takes
// the loader's short write lock, never while threads are stopped) and cached
// until the loader's adds/subs counters change. Lookups are read-only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace threadsnap::detail {

struct ExecSegment {
  uintptr_t start, end, offset;  // runtime range and file offset (page aligned)
};

struct Module {
  uintptr_t lo, hi;        // lowest and highest runtime address of any PT_LOAD
  uintptr_t bias;          // load bias: ELF vaddr = address - bias
  uintptr_t eh_frame_hdr;  // runtime address, 0 if none
  uint32_t nexec;
  ExecSegment exec[4];
  uint8_t build_id[40];
  uint32_t build_id_len;
  char path[512];
};

// Rebuilds the map if the set of loaded objects changed. Returns true if it
// did. Dumper, before a stop: never while threads are held.
bool modules_refresh();

uint32_t module_count();
const Module* module_at(uint32_t i);
// The module whose executable segment holds pc, or null. Read-only.
const Module* module_for_pc(uintptr_t pc);
// Whether pc is in threadsnap's own code.
bool pc_in_threadsnap(uintptr_t pc);

}  // namespace threadsnap::detail
