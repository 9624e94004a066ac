// threadsnap: ELF relocation patching of one loaded object: its own imports
// of a symbol (the JUMP_SLOT and GLOB_DAT relocations naming it) are pointed
// at a replacement, nobody else's. unwinder.cpp uses it to give
// libunwind-x86_64 a sigprocmask that skips two system calls per frame on
// the dumper (whose signals are all blocked anyway).
// Dumper: at start-up of the unwinder (mprotect of RELRO pages, the loader's
// dl_iterate_phdr); never on a stop path.
#pragma once

#include <cstdint>

namespace threadsnap::detail {

// Points every GOT slot of the object behind `handle` (a dlopen handle) that
// the dynamic linker filled for `symbol` at `replacement`; *slot_out (if
// given) gets the last slot patched. False, and nothing changed, if there is
// no such slot.
bool patch_got_slots(void* handle, const char* symbol, uintptr_t replacement,
                     uintptr_t** slot_out);

}  // namespace threadsnap::detail
