// threadsnap: the few _Unwind_* functions our own code needs, forwarded to
// the system's libgcc_s loaded RTLD_LOCAL.
//
// Why: wrappers restore their state in destructors, and pthread_cancel runs
// them by unwinding through our frames, so the library has exception tables
// and a personality routine (static libstdc++). Linking libgcc_s.so.1 as a
// dependency would put its _Unwind_* into the program's global scope (a C
// program would suddenly resolve _Unwind_RaiseException with dlsym), and a
// static copy of the unwinder breaks cancellation (the forced unwind is
// started by glibc's libgcc_s and must be resumed by the same copy). So the
// symbols are defined here, kept local by preload/exports.map, and forward to the one libgcc_s that
// glibc itself loads for cancellation.
#include <dlfcn.h>
#include <unwind.h>

#include <atomic>

#include "preload/common.h"
#include "preload/unwind_abi.h"

namespace {

// Loaded on first use, not by the constructor: five mappings more in every
// process cost every fork of it (issue 11's fork target), and a C program
// that never unwinds through our frames never needs it. The first use is an
// unwind that glibc started (pthread_cancel, pthread_exit), and glibc has
// loaded libgcc_s.so.1 itself just before, with the same dlopen call: this
// one finds it loaded. A C++ program has it loaded from the start.
void* libgcc() {
  static std::atomic<void*> handle{nullptr};
  void* h = handle.load(std::memory_order_acquire);
  if (!h) {
    h = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) threadsnap::detail::log_msg("error: cannot load libgcc_s.so.1; cancellation may abort");
    handle.store(h, std::memory_order_release);
  }
  return h;
}

template <typename F>
F real(std::atomic<F>& slot, const char* name) {
  F f = slot.load(std::memory_order_acquire);
  if (!f) {
    f = reinterpret_cast<F>(dlsym(libgcc(), name));
    slot.store(f, std::memory_order_release);
  }
  return f;
}

}  // namespace

#define TS_FORWARD(ret, name, params, args)                         \
  extern "C" ret name params {                                       \
    static std::atomic<ret(*) params> fn{nullptr};                    \
    return real(fn, #name) args;                                      \
  }

TS_FORWARD(void, _Unwind_Resume, (struct _Unwind_Exception * e), (e))
TS_FORWARD(_Unwind_Reason_Code, _Unwind_Resume_or_Rethrow, (struct _Unwind_Exception * e), (e))
TS_FORWARD(_Unwind_Reason_Code, _Unwind_RaiseException, (struct _Unwind_Exception * e), (e))
TS_FORWARD(void, _Unwind_DeleteException, (struct _Unwind_Exception * e), (e))
TS_FORWARD(_Unwind_Ptr, _Unwind_GetDataRelBase, (struct _Unwind_Context * c), (c))
TS_FORWARD(_Unwind_Ptr, _Unwind_GetTextRelBase, (struct _Unwind_Context * c), (c))
TS_FORWARD(_Unwind_Ptr, _Unwind_GetIPInfo, (struct _Unwind_Context * c, int* b), (c, b))
TS_FORWARD(void*, _Unwind_GetLanguageSpecificData, (struct _Unwind_Context * c), (c))
TS_FORWARD(_Unwind_Ptr, _Unwind_GetRegionStart, (struct _Unwind_Context * c), (c))
TS_FORWARD(void, _Unwind_SetGR, (struct _Unwind_Context * c, int i, _Unwind_Word v), (c, i, v))
TS_FORWARD(void, _Unwind_SetIP, (struct _Unwind_Context * c, _Unwind_Ptr v), (c, v))
