// threadsnap: the C++ exception ABI forwarders (preload/unwind_abi.cpp): the
// few _Unwind_* functions our own code needs, forwarded to the libgcc_s that
// glibc loads for cancellation, never exported.
#pragma once

namespace threadsnap::detail {

// Loads libgcc_s (RTLD_LOCAL) at start-up, before any cancellation can
// unwind through our frames. Constructor only.
void unwind_abi_init();

}  // namespace threadsnap::detail
