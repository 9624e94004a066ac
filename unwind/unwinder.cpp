// threadsnap: DWARF (libunwind remote) and frame-pointer unwinding of copies.
#include "unwind/unwinder.h"

#include <dlfcn.h>
#include <libunwind.h>
#include <signal.h>

#include <cstring>

#include "base/alloc.h"
#include "unwind/got_patch.h"
#include "unwind/modules.h"
#include "unwind/stack_copy.h"

namespace threadsnap::detail {

namespace {

// libunwind's entry points, resolved from a private (RTLD_LOCAL) handle.
using dwarf_search_fn = int (*)(unw_addr_space_t, unw_word_t, unw_dyn_info_t*, unw_proc_info_t*,
                                int, void*);
struct Libunwind {
  decltype(&_Ux86_64_create_addr_space) create_addr_space;
  decltype(&_Ux86_64_init_remote) init_remote;
  decltype(&_Ux86_64_step) step;
  decltype(&_Ux86_64_get_reg) get_reg;
  decltype(&_Ux86_64_set_caching_policy) set_caching_policy;
  decltype(&_Ux86_64_flush_cache) flush_cache;
  decltype(&_Ux86_64_is_signal_frame) is_signal_frame;
  dwarf_search_fn dwarf_search_unwind_table;
} U;
bool g_have_libunwind = false;
unw_addr_space_t g_as = nullptr;

// Page cache of our own code and unwind tables, read with safe_read.
constexpr uint32_t kPages = 4096;
struct Page {
  uintptr_t addr;  // page address + 1; 0 = empty
  bool ok;
  unsigned char* data;
};
Page* g_pages = nullptr;

const unsigned char* page_for(uintptr_t page) {
  if (!g_pages) return nullptr;
  uint32_t h = static_cast<uint32_t>((page >> 12) * 2654435761u) % kPages;
  for (uint32_t probe = 0; probe < 16; ++probe) {
    Page& p = g_pages[(h + probe) % kPages];
    if (p.addr == page + 1) return p.ok ? p.data : nullptr;
    if (p.addr == 0) {
      if (!p.data) p.data = static_cast<unsigned char*>(ts_alloc(4096));
      if (!p.data) return nullptr;
      long got = safe_read(page, p.data, 4096);
      if (got < 0) {  // no process_vm_readv: the module map says it is mapped
        memcpy(p.data, reinterpret_cast<const void*>(page), 4096);
        got = 4096;
      }
      p.addr = page + 1;
      p.ok = got == 4096;
      return p.ok ? p.data : nullptr;
    }
  }
  return nullptr;  // crowded: treat as unreadable rather than evict mid-unwind
}

bool read_module_word(uintptr_t addr, unw_word_t* out) {
  const Module* m = nullptr;
  for (uint32_t i = 0; i < module_count(); ++i) {
    const Module* c = module_at(i);
    if (addr >= c->lo && addr + 8 <= c->hi) { m = c; break; }
  }
  if (!m) return false;
  uintptr_t page = addr & ~uintptr_t{4095};
  size_t off = addr - page;
  const unsigned char* p = page_for(page);
  if (!p) return false;
  if (off + 8 <= 4096) {
    memcpy(out, p + off, 8);
    return true;
  }
  const unsigned char* q = page_for(page + 4096);
  if (!q) return false;
  unsigned char tmp[8];
  memcpy(tmp, p + off, 4096 - off);
  memcpy(tmp + (4096 - off), q, 8 - (4096 - off));
  memcpy(out, tmp, 8);
  return true;
}

bool read_stack_word(const StackCopy* s, uintptr_t addr, unw_word_t* out) {
  if (addr < s->base || addr + 8 > s->base + s->len) return false;
  memcpy(out, s->bytes + (addr - s->base), 8);
  return true;
}

// --- libunwind accessors ---------------------------------------------------

int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t* pi, int need, void* arg) {
  const Module* m = module_for_pc(ip);
  if (!m || !m->eh_frame_hdr) return -UNW_ENOINFO;
  unw_word_t hdr;
  if (!read_module_word(m->eh_frame_hdr, &hdr)) return -UNW_ENOINFO;
  unsigned version = hdr & 0xff, fde_count_enc = (hdr >> 16) & 0xff, table_enc = (hdr >> 24) & 0xff;
  unsigned ptr_enc = (hdr >> 8) & 0xff;
  // The layout every GNU toolchain emits: sdata4 eh_frame_ptr, udata4 count,
  // datarel sdata4 table. Anything else: no info rather than a guess.
  if (version != 1 || (ptr_enc & 0x0f) != 0x0b || fde_count_enc != 0x03 || table_enc != 0x3b)
    return -UNW_ENOINFO;
  uint32_t fde_count = static_cast<uint32_t>(hdr >> 32) ;
  // hdr holds bytes 0..7: 4 header bytes, then eh_frame_ptr; the count follows.
  unw_word_t w2;
  if (!read_module_word(m->eh_frame_hdr + 8, &w2)) return -UNW_ENOINFO;
  fde_count = static_cast<uint32_t>(w2 & 0xffffffff);
  unw_dyn_info_t di;
  memset(&di, 0, sizeof(di));
  di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
  di.start_ip = m->lo;
  di.end_ip = m->hi;
  di.u.rti.segbase = m->eh_frame_hdr;
  di.u.rti.table_data = m->eh_frame_hdr + 12;
  di.u.rti.table_len = fde_count * 8 / sizeof(unw_word_t);
  return U.dwarf_search_unwind_table(as, ip, &di, pi, need, arg);
}

void put_unwind_info(unw_addr_space_t, unw_proc_info_t*, void*) {}

int get_dyn_info_list_addr(unw_addr_space_t, unw_word_t*, void*) { return -UNW_ENOINFO; }

int access_mem(unw_addr_space_t, unw_word_t addr, unw_word_t* val, int write, void* arg) {
  if (write) return -UNW_EINVAL;
  auto* s = static_cast<const StackCopy*>(arg);
  if (read_stack_word(s, addr, val)) return 0;
  if (read_module_word(addr, val)) return 0;
  *val = 0;
  return -UNW_EINVAL;
}

int access_reg(unw_addr_space_t, unw_regnum_t reg, unw_word_t* val, int write, void* arg) {
  if (write) return -UNW_EINVAL;
  auto* s = static_cast<const StackCopy*>(arg);
  if (reg < 0 || reg >= kNumRegs) return -UNW_EBADREG;
  *val = s->regs[reg];
  return 0;
}

int access_fpreg(unw_addr_space_t, unw_regnum_t, unw_fpreg_t*, int, void*) { return -UNW_EINVAL; }
int resume(unw_addr_space_t, unw_cursor_t*, void*) { return -UNW_EINVAL; }
int get_proc_name(unw_addr_space_t, unw_word_t, char*, size_t, unw_word_t*, void*) {
  return -UNW_EINVAL;
}

unw_accessors_t g_accessors = {find_proc_info, put_unwind_info, get_dyn_info_list_addr,
                               access_mem,     access_reg,      access_fpreg,
                               resume,         get_proc_name};

// *first_sigframe: the index of the first signal trampoline frame
// (__restore_rt), or ~0u.
uint32_t unwind_dwarf(const StackCopy& s, uintptr_t* out, uint32_t max,
                      uint32_t* first_sigframe) {
  unw_cursor_t cursor;
  if (!g_as || U.init_remote(&cursor, g_as, const_cast<StackCopy*>(&s)) < 0) {
    out[0] = s.regs[kRIP];
    return 1;
  }
  uint32_t n = 0;
  while (n < max) {
    unw_word_t ip = 0;
    if (U.get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0) break;
    if (*first_sigframe == ~0u && U.is_signal_frame && U.is_signal_frame(&cursor) > 0)
      *first_sigframe = n;
    out[n++] = ip;
    if (U.step(&cursor) <= 0) break;
  }
  return n;
}

uint32_t unwind_fp(const StackCopy& s, uintptr_t* out, uint32_t max) {
  uint32_t n = 0;
  out[n++] = s.regs[kRIP];
  uintptr_t bp = s.regs[kRBP];
  while (n < max) {
    unw_word_t next, ret;
    if (!read_stack_word(&s, bp, &next) || !read_stack_word(&s, bp + 8, &ret)) break;
    if (ret == 0) break;
    out[n++] = ret;
    if (next <= bp) break;  // frames grow upward; anything else is garbage
    bp = next;
  }
  return n;
}

}  // namespace

// --- libunwind's signal mask calls ------------------------------------------
//
// libunwind takes its cache lock with sigprocmask(SIG_SETMASK, <all>, &old)
// and gives it back with sigprocmask(SIG_SETMASK, &old, NULL): two system
// calls per frame, about 40% of the dumper's time in a 10,000-thread dump. On
// a thread that keeps every signal blocked anyway (the dumper) both calls
// change nothing. So libunwind-x86_64's own import of sigprocmask (its GOT
// slot, nobody else's) points at ts_sigprocmask, which skips them there and
// passes every other call (another thread, another request) to glibc.

namespace {

thread_local bool t_all_blocked = false;
using sigprocmask_fn = int (*)(int, const sigset_t*, sigset_t*);
sigprocmask_fn g_real_sigprocmask = nullptr;
uintptr_t* g_sigprocmask_slot = nullptr;  // libunwind-x86_64's, once redirected

bool all_blockable(const sigset_t* set) {
  for (int sig = 1; sig < 32; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP && !sigismember(set, sig)) return false;
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; ++sig)
    if (!sigismember(set, sig)) return false;
  return true;
}

// Every signal the kernel knows (1-64) in `set`, but for glibc's internal
// 32 and 33, which sigfillset leaves out: the block-all mask, and the "old"
// mask ts_sigprocmask reports. One compare: this runs twice per frame.
bool fills_kernel_mask(const sigset_t* set) {
  uint64_t w;
  memcpy(&w, set, sizeof w);
  return (w | uint64_t{3} << 31) == ~uint64_t{0};
}

int ts_sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  if (t_all_blocked && (how == SIG_BLOCK || how == SIG_SETMASK) && (!set || fills_kernel_mask(set))) {
    if (old) sigfillset(old);
    return 0;
  }
  return g_real_sigprocmask(how, set, old);
}

// Points the GOT slots for sigprocmask of the object behind `handle` at
// ts_sigprocmask. False (and nothing changed) if there is none.
bool redirect_sigprocmask(void* handle) {
  g_real_sigprocmask = reinterpret_cast<sigprocmask_fn>(dlsym(RTLD_NEXT, "sigprocmask"));
  if (!g_real_sigprocmask) return false;
  return patch_got_slots(handle, "sigprocmask", reinterpret_cast<uintptr_t>(&ts_sigprocmask),
                         &g_sigprocmask_slot);
}

}  // namespace

LibunwindSigprocmask unwinder_libunwind_sigprocmask() {
  if (!g_sigprocmask_slot) return nullptr;
  return reinterpret_cast<LibunwindSigprocmask>(__atomic_load_n(g_sigprocmask_slot, __ATOMIC_ACQUIRE));
}

bool unwinder_thread_keeps_signals_blocked() {
  sigset_t cur;
  if (pthread_sigmask(SIG_BLOCK, nullptr, &cur) != 0 || !all_blockable(&cur)) return false;
  t_all_blocked = true;
  return true;
}


bool unwinder_init() {
  g_pages = static_cast<Page*>(ts_alloc(sizeof(Page) * kPages));
  if (g_pages) memset(g_pages, 0, sizeof(Page) * kPages);
  // The remote interface lives in libunwind-x86_64 (the local-only
  // libunwind.so returns NULL from unw_create_addr_space).
  void* h = dlopen("libunwind-x86_64.so.8", RTLD_NOW | RTLD_LOCAL);
  if (!h) return false;
  redirect_sigprocmask(h);  // an optimisation: without it, just slower
#define TS_SYM(field, name) U.field = reinterpret_cast<decltype(U.field)>(dlsym(h, name))
  TS_SYM(create_addr_space, "_Ux86_64_create_addr_space");
  TS_SYM(init_remote, "_Ux86_64_init_remote");
  TS_SYM(step, "_Ux86_64_step");
  TS_SYM(get_reg, "_Ux86_64_get_reg");
  TS_SYM(set_caching_policy, "_Ux86_64_set_caching_policy");
  TS_SYM(flush_cache, "_Ux86_64_flush_cache");
  TS_SYM(is_signal_frame, "_Ux86_64_is_signal_frame");
  TS_SYM(dwarf_search_unwind_table, "_Ux86_64_dwarf_search_unwind_table");
#undef TS_SYM
  if (!U.create_addr_space || !U.init_remote || !U.step || !U.get_reg ||
      !U.dwarf_search_unwind_table)
    return false;
  g_as = U.create_addr_space(&g_accessors, 0);
  if (!g_as) return false;
  if (U.set_caching_policy) U.set_caching_policy(g_as, UNW_CACHE_GLOBAL);
  g_have_libunwind = true;
  return true;
}

void unwinder_begin(bool modules_changed) {
  if (g_pages) {
    for (uint32_t i = 0; i < kPages; ++i) g_pages[i].addr = 0;
  }
  if (modules_changed && g_as && U.flush_cache) U.flush_cache(g_as, 0, 0);
}

uint32_t unwind_raw(const StackCopy& s, uintptr_t* out, uint32_t max, bool use_fp,
                    uint32_t* first_sigframe) {
  uint32_t sigframe = ~0u;
  uint32_t n = (use_fp || !g_have_libunwind) ? unwind_fp(s, out, max)
                                             : unwind_dwarf(s, out, max, &sigframe);
  if (first_sigframe) *first_sigframe = sigframe;
  return n;
}

}  // namespace threadsnap::detail
