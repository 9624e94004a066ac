// threadsnap: GOT patching of one loaded object; see got_patch.h.
#include "unwind/got_patch.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/mman.h>

#include <cstring>

namespace threadsnap::detail {

namespace {

struct RelroRange {
  uintptr_t base, lo, hi;
};

int find_relro(struct dl_phdr_info* info, size_t, void* arg) {
  auto* r = static_cast<RelroRange*>(arg);
  if (info->dlpi_addr != r->base) return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i)
    if (info->dlpi_phdr[i].p_type == PT_GNU_RELRO) {
      r->lo = r->base + info->dlpi_phdr[i].p_vaddr;
      r->hi = r->lo + info->dlpi_phdr[i].p_memsz;
    }
  return 1;
}

}  // namespace

bool patch_got_slots(void* handle, const char* symbol, uintptr_t replacement,
                     uintptr_t** slot_out) {
  struct link_map* lm = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm) return false;
  uintptr_t base = lm->l_addr;
  // glibc relocates these d_ptr values in place on x86_64; not everywhere.
  auto at = [base](ElfW(Addr) p) { return p < base ? p + base : p; };
  const ElfW(Sym)* symtab = nullptr;
  const char* strtab = nullptr;
  const ElfW(Rela)* rel[2] = {nullptr, nullptr};
  size_t relsz[2] = {0, 0};
  for (const ElfW(Dyn)* d = lm->l_ld; d->d_tag != DT_NULL; ++d) {
    switch (d->d_tag) {
      case DT_SYMTAB: symtab = reinterpret_cast<const ElfW(Sym)*>(at(d->d_un.d_ptr)); break;
      case DT_STRTAB: strtab = reinterpret_cast<const char*>(at(d->d_un.d_ptr)); break;
      case DT_JMPREL: rel[0] = reinterpret_cast<const ElfW(Rela)*>(at(d->d_un.d_ptr)); break;
      case DT_PLTRELSZ: relsz[0] = d->d_un.d_val; break;
      case DT_RELA: rel[1] = reinterpret_cast<const ElfW(Rela)*>(at(d->d_un.d_ptr)); break;
      case DT_RELASZ: relsz[1] = d->d_un.d_val; break;
      default: break;
    }
  }
  if (!symtab || !strtab) return false;
  RelroRange relro{base, 0, 0};
  dl_iterate_phdr(find_relro, &relro);
  bool done = false;
  for (int k = 0; k < 2; ++k) {
    if (!rel[k]) continue;
    for (size_t i = 0; i < relsz[k] / sizeof(ElfW(Rela)); ++i) {
      const ElfW(Rela)& r = rel[k][i];
      uint32_t type = ELF64_R_TYPE(r.r_info);
      if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) continue;
      if (strcmp(strtab + symtab[ELF64_R_SYM(r.r_info)].st_name, symbol) != 0) continue;
      uintptr_t slot = base + r.r_offset;
      bool ro = slot >= relro.lo && slot < relro.hi;
      uintptr_t page = slot & ~uintptr_t{4095};
      if (ro && mprotect(reinterpret_cast<void*>(page), 4096, PROT_READ | PROT_WRITE) != 0) continue;
      __atomic_store_n(reinterpret_cast<uintptr_t*>(slot), replacement, __ATOMIC_RELEASE);
      if (slot_out) *slot_out = reinterpret_cast<uintptr_t*>(slot);
      if (ro) mprotect(reinterpret_cast<void*>(page), 4096, PROT_READ);
      done = true;
    }
  }
  return done;
}

}  // namespace threadsnap::detail
