// threadsnap: the module map; see modules.h.
#include "unwind/modules.h"

#include <elf.h>
#include <link.h>
#include <unistd.h>

#include <cstring>

#include "base/alloc.h"

namespace threadsnap::detail {

namespace {

// Allocated by the first refresh, on the dumper: a static table would put
// 1.4 MB of .bss between the library's few hot words, spreading them over
// more page tables for every fork to copy.
constexpr uint32_t kMaxModules = 2048;
Module* g_modules = nullptr;
uint32_t g_capacity = 0;
uint32_t g_count = 0;
unsigned long long g_adds = ~0ull, g_subs = ~0ull;
char g_exe_path[512];
const Module* g_self = nullptr;

void read_build_id(const dl_phdr_info* info, Module* m) {
  m->build_id_len = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    auto p = reinterpret_cast<const unsigned char*>(info->dlpi_addr + ph.p_vaddr);
    auto end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      auto nh = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const unsigned char* name = p + sizeof(ElfW(Nhdr));
      const unsigned char* desc = name + ((nh->n_namesz + 3) & ~3u);
      const unsigned char* next = desc + ((nh->n_descsz + 3) & ~3u);
      if (next > end) break;
      if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
          nh->n_descsz <= sizeof(m->build_id)) {
        memcpy(m->build_id, desc, nh->n_descsz);
        m->build_id_len = nh->n_descsz;
        return;
      }
      p = next;
    }
  }
}

int collect(dl_phdr_info* info, size_t, void*) {
  if (g_count >= g_capacity) return 1;
  Module* m = &g_modules[g_count];
  memset(m, 0, sizeof(*m));
  m->bias = info->dlpi_addr;
  m->lo = ~uintptr_t{0};
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD) {
      uintptr_t start = (info->dlpi_addr + ph.p_vaddr) & ~uintptr_t{4095};
      uintptr_t end = info->dlpi_addr + ph.p_vaddr + ph.p_memsz;
      if (start < m->lo) m->lo = start;
      if (end > m->hi) m->hi = end;
      if ((ph.p_flags & PF_X) && m->nexec < 4)
        m->exec[m->nexec++] = {start, end, ph.p_offset & ~uintptr_t{4095}};
    } else if (ph.p_type == PT_GNU_EH_FRAME) {
      m->eh_frame_hdr = info->dlpi_addr + ph.p_vaddr;
    }
  }
  if (m->nexec == 0) return 0;
  const char* name = info->dlpi_name;
  if (!name || !*name) name = g_exe_path;
  else if (strncmp(name, "linux-vdso", 10) == 0) name = "[vdso]";
  size_t n = strnlen(name, sizeof(m->path) - 1);
  memcpy(m->path, name, n);
  m->path[n] = 0;
  read_build_id(info, m);
  ++g_count;
  return 0;
}

int count_one(dl_phdr_info*, size_t, void* out) {
  ++*static_cast<uint32_t*>(out);
  return 0;
}

// Room for `n` modules and some more (dlopen meanwhile). False if none.
bool ensure_capacity(uint32_t n) {
  if (n > kMaxModules) n = kMaxModules;
  if (n <= g_capacity) return true;
  uint32_t want = n + 16 < kMaxModules ? n + 16 : kMaxModules;
  auto* p = static_cast<Module*>(ts_realloc(g_modules, want * sizeof(Module)));
  if (!p) return g_capacity != 0;
  g_modules = p;
  g_capacity = want;
  return true;
}

int counters(dl_phdr_info* info, size_t size, void* out) {
  auto* c = static_cast<unsigned long long*>(out);
  if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
    c[0] = info->dlpi_adds;
    c[1] = info->dlpi_subs;
  }
  return 1;  // the counters are the same in every entry
}

}  // namespace

bool modules_refresh() {
  unsigned long long c[2] = {0, 0};
  dl_iterate_phdr(counters, c);
  if (c[0] == g_adds && c[1] == g_subs && g_count) return false;
  if (!g_exe_path[0]) {
    // thread-self: /proc/self/exe is unreadable once the main thread has
    // ended (pthread_exit), and this may be the process's first dump.
    ssize_t n = readlink("/proc/thread-self/exe", g_exe_path, sizeof(g_exe_path) - 1);
    if (n <= 0) n = readlink("/proc/self/exe", g_exe_path, sizeof(g_exe_path) - 1);
    g_exe_path[n > 0 ? n : 0] = 0;
  }
  uint32_t n = 0;
  dl_iterate_phdr(count_one, &n);
  if (!ensure_capacity(n)) return false;
  g_count = 0;
  dl_iterate_phdr(collect, nullptr);
  g_adds = c[0];
  g_subs = c[1];
  g_self = module_for_pc(reinterpret_cast<uintptr_t>(&modules_refresh));
  return true;
}

uint32_t module_count() { return g_count; }
const Module* module_at(uint32_t i) { return i < g_count ? &g_modules[i] : nullptr; }

const Module* module_for_pc(uintptr_t pc) {
  for (uint32_t i = 0; i < g_count; ++i) {
    const Module& m = g_modules[i];
    if (pc < m.lo || pc >= m.hi) continue;
    for (uint32_t s = 0; s < m.nexec; ++s)
      if (pc >= m.exec[s].start && pc < m.exec[s].end) return &m;
  }
  return nullptr;
}

bool pc_in_threadsnap(uintptr_t pc) {
  if (!g_self) return false;
  for (uint32_t s = 0; s < g_self->nexec; ++s)
    if (pc >= g_self->exec[s].start && pc < g_self->exec[s].end) return true;
  return false;
}

}  // namespace threadsnap::detail
