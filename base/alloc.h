// threadsnap (base layer): the library's private memory (mimalloc, loaded RTLD_LOCAL so
// that the program's malloc and operator new bind exactly as without us).
// Used by the dumper thread only, outside any stop; falls back to mmap when
// mimalloc is missing. Dumper only (never a handler nor a stop path).
#pragma once

#include <cstddef>

namespace threadsnap::detail {

bool alloc_init();  // dlopen mimalloc; once, at start-up
void* ts_alloc(size_t n);
void* ts_realloc(void* p, size_t n);
void ts_free(void* p);

}  // namespace threadsnap::detail
