// threadsnap: private allocator; see alloc.h.
#include "base/alloc.h"

#include <dlfcn.h>
#include <sys/mman.h>

#include <cstring>

namespace threadsnap::detail {

namespace {
using malloc_fn = void* (*)(size_t);
using realloc_fn = void* (*)(void*, size_t);
using free_fn = void (*)(void*);
malloc_fn g_malloc = nullptr;
realloc_fn g_realloc = nullptr;
free_fn g_free = nullptr;

// Fallback: each block is its own mapping, with its size in front.
void* map_alloc(size_t n) {
  size_t total = n + 16;
  void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  *static_cast<size_t*>(p) = total;
  return static_cast<char*>(p) + 16;
}
void map_free(void* p) {
  if (!p) return;
  char* base = static_cast<char*>(p) - 16;
  munmap(base, *reinterpret_cast<size_t*>(base));
}
}  // namespace

bool alloc_init() {
  // RTLD_LOCAL: mimalloc's malloc/operator new never enter the global scope.
  void* h = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!h) return false;
  g_malloc = reinterpret_cast<malloc_fn>(dlsym(h, "mi_malloc"));
  g_realloc = reinterpret_cast<realloc_fn>(dlsym(h, "mi_realloc"));
  g_free = reinterpret_cast<free_fn>(dlsym(h, "mi_free"));
  if (!g_malloc || !g_realloc || !g_free) g_malloc = nullptr;
  return g_malloc != nullptr;
}

void* ts_alloc(size_t n) { return g_malloc ? g_malloc(n) : map_alloc(n); }

void* ts_realloc(void* p, size_t n) {
  if (g_malloc) return g_realloc(p, n);
  void* q = map_alloc(n);
  if (q && p) {
    size_t old = *reinterpret_cast<size_t*>(static_cast<char*>(p) - 16) - 16;
    memcpy(q, p, old < n ? old : n);
    map_free(p);
  }
  return q;
}

void ts_free(void* p) {
  if (g_malloc) g_free(p);
  else map_free(p);
}

}  // namespace threadsnap::detail
