// threadsnap: DWARF (libunwind remote) and frame-pointer unwinding of copies.
#include "unwind/unwinder.h"

#include <dlfcn.h>
#include <libunwind.h>
#include <signal.h>
#include <sys/mman.h>

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
UnwindRuleStats g_rule_stats;

// Page cache of our own code and unwind tables, read with safe_read.
constexpr uint32_t kPages = 4096;
struct Page {
  uintptr_t addr;  // page address + 1; 0 = empty
  bool ok;         // its bytes (g_page_data, same index) were all readable
};

// A rule: how to step from one exact PC to its caller (see rule_for).
constexpr int kSaved[] = {kRBX, kRBP, kR12, kR13, kR14, kR15};
constexpr int kNumSaved = 6;
constexpr int16_t kSame = INT16_MAX;
struct Rule {
  uintptr_t key;           // PC << 1 | 1; 0 = empty slot
  uint8_t kind;            // kRuleStep, kRuleEnd (no caller) or kRuleNone
  uint8_t cfa_reg;         // kRSP or kRBP
  int32_t cfa_off;
  int16_t ra_off;          // return address at CFA + ra_off
  int16_t off[kNumSaved];  // kSaved[i] at CFA + off[i], or kSame
};
enum : uint8_t { kRuleNone, kRuleStep, kRuleEnd };
constexpr uint32_t kRules = 1 << 14;  // a power of two

// The page cache's index and the rules, kept from dump to dump while the
// modules stay the same, in a mapping of their own that a fork does not
// copy (MADV_WIPEONFORK): every fork after a dump copied their pages (some
// 150 with the rules spread over the whole table, a third of a C program's
// fork: issue 11), and a child must start without them anyway. All zero is
// the empty cache, so a child finds it empty, and emptying it
// (unwinder_begin) gives its pages back. The cached bytes are allocated
// page by page as they are needed (an mlockall'ed host locks only those),
// and kept for reuse: their pointers are not in the wiped mapping.
struct Cache {
  uint32_t rule_count;
  Rule rules[kRules];
  Page pages[kPages];
};
Cache* g_cache = nullptr;
bool g_cache_wiped = false;               // g_cache is that mapping, not ts_alloc'd
unsigned char** g_page_data = nullptr;    // kPages pointers, each 4096 bytes or null
bool g_pages_crowded = false;

const unsigned char* page_for(uintptr_t page) {
  if (!g_cache || !g_page_data) return nullptr;
  uint32_t h = static_cast<uint32_t>((page >> 12) * 2654435761u) % kPages;
  for (uint32_t probe = 0; probe < 16; ++probe) {
    uint32_t i = (h + probe) % kPages;
    Page& p = g_cache->pages[i];
    unsigned char*& data = g_page_data[i];
    if (p.addr == page + 1) return p.ok ? data : nullptr;
    if (p.addr == 0) {
      if (!data) data = static_cast<unsigned char*>(ts_alloc(4096));
      if (!data) return nullptr;
      long got = safe_read(page, data, 4096);
      if (got < 0) {  // no process_vm_readv: the module map says it is mapped
        memcpy(data, reinterpret_cast<const void*>(page), 4096);
        got = 4096;
      }
      p.addr = page + 1;
      p.ok = got == 4096;
      return p.ok ? data : nullptr;
    }
  }
  g_pages_crowded = true;  // emptied before the next dump's unwinding
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

// --- rules probed from libunwind (see "Per-PC rules" below) ----------------

// A probe runs libunwind on made-up registers whose stack reads give values
// that encode their own address; what the step returns then says where each
// register came from. Its copy has no bytes: every stack read is made up.
constexpr uint64_t kProbeMagic = 0x5a5a000000000000;
constexpr uint64_t kProbeSpan = 1 << 20;  // stack reads within this of rsp/rbp
StackCopy g_probe;

bool probe_addr(const StackCopy* p, uintptr_t addr) {
  return (addr - (p->regs[kRSP] - kProbeSpan) < 2 * kProbeSpan) ||
         (addr - (p->regs[kRBP] - kProbeSpan) < 2 * kProbeSpan);
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
  if (arg == &g_probe && probe_addr(&g_probe, addr)) {
    *val = addr ^ kProbeMagic;
    return 0;
  }
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

// --- Per-PC rules -------------------------------------------------------------
//
// libunwind costs about 80-100 ns a frame even when its own cache hits (a
// mutex, its register-state cache, the reads of saved registers). Across
// the threads of one program most frames share a few hundred return
// addresses, so the rule for each is worked out once, by letting libunwind
// step from made-up registers (a probe), and then applied directly: the CFA
// is rsp or rbp plus an offset, and the return address and each
// callee-saved register are either unchanged or read at a fixed offset from
// the CFA. That is what GCC and Clang emit for all but hand-written code; a
// PC whose step does not fit that form (a DWARF expression, a signal frame,
// no unwind info, a step that fails) gets no rule, and a stack with such a
// frame is unwound by libunwind from the start, so results never differ
// from libunwind's. Each rule is checked by a second probe from other
// made-up registers.

bool g_use_rules = true;
bool g_check_rules = false;

// One probe at pc from registers based at (sp, bp): fills *r as far as the
// step says. False if the step does not fit a rule.
bool probe_once(uintptr_t pc, uint64_t sp, uint64_t bp, Rule* r) {
  memset(&g_probe, 0, sizeof(g_probe));
  for (int i = 0; i < kNumRegs; ++i) g_probe.regs[i] = 0x7100000000000000ull + (uint64_t(i) << 40);
  g_probe.regs[kRSP] = sp;
  g_probe.regs[kRBP] = bp;
  g_probe.regs[kRIP] = pc;
  // Without DWARF info libunwind's step guesses from the frame pointer:
  // that is not a rule.
  unw_proc_info_t pi;
  if (find_proc_info(g_as, pc, &pi, 0, &g_probe) < 0) return false;
  unw_cursor_t cursor;
  if (U.init_remote(&cursor, g_as, &g_probe) < 0) return false;
  if (U.is_signal_frame && U.is_signal_frame(&cursor) != 0) return false;
  int st = U.step(&cursor);
  if (st == 0) {
    r->kind = kRuleEnd;
    return true;
  }
  if (st < 0) return false;
  unw_word_t cfa = 0, ip = 0;
  if (U.get_reg(&cursor, UNW_REG_SP, &cfa) < 0 || U.get_reg(&cursor, UNW_REG_IP, &ip) < 0) return false;
  int64_t dsp = static_cast<int64_t>(cfa - sp), dbp = static_cast<int64_t>(cfa - bp);
  if (dsp >= -int64_t{kProbeSpan} && dsp < int64_t{kProbeSpan}) {
    r->cfa_reg = kRSP;
    r->cfa_off = static_cast<int32_t>(dsp);
  } else if (dbp >= -int64_t{kProbeSpan} && dbp < int64_t{kProbeSpan}) {
    r->cfa_reg = kRBP;
    r->cfa_off = static_cast<int32_t>(dbp);
  } else {
    return false;
  }
  auto offset_of = [&](unw_word_t v, int16_t* off) {
    uintptr_t addr = v ^ kProbeMagic;
    if (!probe_addr(&g_probe, addr)) return false;
    int64_t d = static_cast<int64_t>(addr - cfa);
    if (d < -4096 || d > 4096) return false;
    *off = static_cast<int16_t>(d);
    return true;
  };
  if (!offset_of(ip, &r->ra_off)) return false;
  for (int i = 0; i < kNumSaved; ++i) {
    unw_word_t v = 0;
    if (U.get_reg(&cursor, kSaved[i], &v) < 0) return false;
    if (v == g_probe.regs[kSaved[i]]) r->off[i] = kSame;
    else if (!offset_of(v, &r->off[i])) return false;
  }
  r->kind = kRuleStep;
  return true;
}

// The rule for pc (an exact PC: a return address's rule is looked up at
// return address - 1, as libunwind does), probing it on a miss. Null when
// pc has none.
const Rule* rule_for(uintptr_t pc) {
  if (!g_cache) return nullptr;
  Rule* rules = g_cache->rules;
  uintptr_t key = pc << 1 | 1;
  uint32_t h = static_cast<uint32_t>((pc * 0x9e3779b97f4a7c15ull) >> 40) & (kRules - 1);
  for (uint32_t probe = 0; probe < 32; ++probe) {
    Rule& slot = rules[(h + probe) & (kRules - 1)];
    if (slot.key == key) {
      ++g_rule_stats.hits;
      return slot.kind == kRuleNone ? nullptr : &slot;
    }
    if (slot.key != 0) continue;
    if (g_cache->rule_count >= kRules / 2) break;  // full enough: no new rules until modules change
    ++g_rule_stats.probes;
    Rule a = {}, b = {};
    bool ok = probe_once(pc, 0x100000000000ull, 0x300000000000ull, &a) &&
              probe_once(pc, 0x500000002000ull, 0x400000001000ull, &b) && a.kind == b.kind &&
              (a.kind == kRuleEnd ||
               (a.cfa_reg == b.cfa_reg && a.cfa_off == b.cfa_off && a.ra_off == b.ra_off &&
                memcmp(a.off, b.off, sizeof(a.off)) == 0));
    slot = ok ? a : Rule{};
    slot.key = key;
    if (!ok) slot.kind = kRuleNone;
    ++g_cache->rule_count;
    return ok ? &slot : nullptr;
  }
  ++g_rule_stats.probes;
  return nullptr;
}

// Unwinds s with rules alone. False (out unusable) if a frame has no rule:
// the caller then unwinds with libunwind.
bool unwind_by_rules(const StackCopy& s, uintptr_t* out, uint32_t max, uint32_t* count) {
  uint64_t rip = s.regs[kRIP], rsp = s.regs[kRSP];
  uint64_t saved[kNumSaved];
  for (int i = 0; i < kNumSaved; ++i) saved[i] = s.regs[kSaved[i]];
  // A register whose save slot lies outside the copy is unknown; libunwind
  // reads saved registers only when a later step needs them, so the walk
  // ends only if one does (rbp as a CFA base is the only such use here).
  bool rbp_known = true;
  bool exact = true;  // the first PC is where the thread is; the rest return addresses
  uint32_t n = 0;
  while (n < max) {
    if (rip == 0) break;
    out[n++] = rip;
    const Rule* r = rule_for(exact ? rip : rip - 1);
    if (!r) return false;
    if (r->kind == kRuleEnd) break;
    if (r->cfa_reg == kRBP && !rbp_known) return false;
    uint64_t base = r->cfa_reg == kRSP ? rsp : saved[1];
    uint64_t cfa = base + static_cast<int64_t>(r->cfa_off);
    unw_word_t next_ip;
    // A read outside the copy ends libunwind's walk too (its step fails).
    if (!read_stack_word(&s, cfa + r->ra_off, &next_ip)) break;
    for (int i = 0; i < kNumSaved; ++i) {
      if (r->off[i] == kSame) continue;
      unw_word_t v = 0;
      bool ok = read_stack_word(&s, cfa + r->off[i], &v);
      saved[i] = v;
      if (i == 1) rbp_known = ok;
    }
    // A frame that leads to itself: whatever libunwind makes of that, it
    // is libunwind's to say.
    if (cfa == rsp && next_ip == rip) return false;
    rsp = cfa;
    rip = next_ip;
    exact = false;
  }
  *count = n;
  return true;
}

uint32_t unwind_dwarf_libunwind(const StackCopy& s, uintptr_t* out, uint32_t max,
                                uint32_t* first_sigframe);

// unwinder_check_rules(true) (THREADSNAP_TEST_UNWIND_CHECK): every unwind by
// rules is done again by libunwind and compared.
uintptr_t g_check_frames[1024];

void check_against_libunwind(const StackCopy& s, const uintptr_t* out, uint32_t n, uint32_t max) {
  uint32_t sig = ~0u;
  uint32_t m = unwind_dwarf_libunwind(s, g_check_frames, max < 1024 ? max : 1024, &sig);
  ++g_rule_stats.checked;
  if (m == n && memcmp(out, g_check_frames, n * sizeof(uintptr_t)) == 0) return;
  if (!g_rule_stats.differed++) {
    g_rule_stats.first_diff_rules_n = n;
    g_rule_stats.first_diff_libunwind_n = m;
  }
}

// *first_sigframe: the index of the first signal trampoline frame
// (__restore_rt), or ~0u.
uint32_t unwind_dwarf_libunwind(const StackCopy& s, uintptr_t* out, uint32_t max,
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

uint32_t unwind_dwarf(const StackCopy& s, uintptr_t* out, uint32_t max, uint32_t* first_sigframe) {
  uint32_t n = 0;
  if (g_use_rules && unwind_by_rules(s, out, max, &n)) {
    ++g_rule_stats.by_rules;
    if (g_check_rules) check_against_libunwind(s, out, n, max);
    return n;
  }
  ++g_rule_stats.by_libunwind;
  return unwind_dwarf_libunwind(s, out, max, first_sigframe);
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
  void* c = mmap(nullptr, sizeof(Cache), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (c != MAP_FAILED) {
    madvise(c, sizeof(Cache), MADV_WIPEONFORK);  // where refused, forks copy it
    madvise(c, sizeof(Cache), MADV_NOHUGEPAGE);
    g_cache = static_cast<Cache*>(c);
    g_cache_wiped = true;
  } else if ((c = ts_alloc(sizeof(Cache)))) {  // a mapping refused (RLIMIT_MEMLOCK)
    memset(c, 0, sizeof(Cache));
    g_cache = static_cast<Cache*>(c);
  }
  if ((g_page_data = static_cast<unsigned char**>(ts_alloc(sizeof(unsigned char*) * kPages))))
    memset(g_page_data, 0, sizeof(unsigned char*) * kPages);
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
  // The pages and rules come from the modules' code and unwind tables,
  // which change only with the module list. A crowded page cache (a rule
  // may have been refused for want of a page) starts again too.
  if (!modules_changed && !g_pages_crowded) return;
  g_pages_crowded = false;
  // All zero again: its pages given back, or (locked memory refuses that,
  // or it is not a mapping of its own) written.
  if (g_cache && (!g_cache_wiped || madvise(g_cache, sizeof(Cache), MADV_DONTNEED) != 0))
    memset(g_cache, 0, sizeof(Cache));
  if (g_as && U.flush_cache) U.flush_cache(g_as, 0, 0);
}

void unwinder_use_rules(bool on) { g_use_rules = on; }
void unwinder_check_rules(bool on) { g_check_rules = on; }
UnwindRuleStats unwinder_rule_stats() { return g_rule_stats; }

uint32_t unwind_raw(const StackCopy& s, uintptr_t* out, uint32_t max, bool use_fp,
                    uint32_t* first_sigframe) {
  uint32_t sigframe = ~0u;
  uint32_t n = (use_fp || !g_have_libunwind) ? unwind_fp(s, out, max)
                                             : unwind_dwarf(s, out, max, &sigframe);
  if (first_sigframe) *first_sigframe = sigframe;
  return n;
}

}  // namespace threadsnap::detail
