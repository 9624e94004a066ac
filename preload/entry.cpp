// threadsnap: start-up (constructor), the signals, the dumper thread and
// fork.
//
// What the program can see of threadsnap is kept to the least:
// - No thread until one is needed: the dumper starts with the program's
//   first pthread_create, or when a dump is asked for. A single-threaded
//   process stays single-threaded (unshare(CLONE_NEWUSER) needs that), and a
//   forked child that only execs never starts one.
// - No file descriptor: the dumper is woken by a signal sent to it alone
//   (it keeps every signal blocked and takes this one with sigtimedwait), and
//   it works in a file table of its own (close_range(CLOSE_RANGE_UNSHARE)):
//   nothing it opens takes a number in the program's table or leaks into
//   the program's children.
// - No signal the program uses: the stop signal is a real-time signal nobody
//   handles; if the program later sets it (any disposition), threadsnap moves
//   to another one. What the program reads back with sigaction is what it
//   would read without threadsnap.
// - No process kept alive: when the last program thread ends, the dumper
//   ends too, so the process exits as it would without it.
#include "preload/entry.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <cstring>

#include "base/alloc.h"
#include "base/once.h"
#include "base/small_file.h"
#include "preload/adopt.h"
#include "preload/config.h"
#include "preload/control.h"
#include "preload/coordinator.h"
#include "preload/registry.h"
#include "preload/unwind_abi.h"
#include "preload/writer.h"
#include "shim/calls.h"
#include "unwind/stack_copy.h"
#include "unwind/unwinder.h"

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif

namespace threadsnap::detail {

char g_process_name[16];
std::atomic<int> g_stop_signal{0};
std::atomic<int> g_trigger_signal{0};

namespace {

InitOnce g_init;

// The dumper: 0 none, 1 being started, 2 running. Zero in a fork child
// (preload/process_local.h).
constexpr auto& g_dumper_state = g_local.dumper_state;
constexpr auto& g_dumper_tid = g_local.dumper_tid;
constexpr auto& g_dump_wanted = g_local.dump_wanted;    // a dump was asked for before the dumper ran
constexpr auto& g_dumper_leave = g_local.dumper_leave;  // step aside (unshare/setns): the dumper ends
std::atomic<uint64_t> g_program_sigs{0};  // signals the program has set (bit sig-1)
uintptr_t g_restorer = 0;              // glibc's signal return trampoline
// In a fork child, where on the forking thread's stack the innermost signal
// frame of before the fork lies (0: none). A handler that forked (a server
// starting workers from its SIGCHLD handler: PostgreSQL 15) ran before fork
// reset glibc's locks here, so the child is not inside it in the sense that
// matters; it may never return from it.
constinit thread_local uintptr_t t_prefork_frame TS_TLS = 0;

// --- fork and dump gate --------------------------------------------------------
// A child must not inherit mimalloc's or libunwind's locks held by a dumper
// that does not exist there, and the stop signal must not move under a
// dump. So fork (and a move) waits until no dump is under way, and no dump
// starts meanwhile (Dekker on g_gate_pending / g_dump_running).
constexpr auto& g_gate_pending = g_local.gate_pending;
constexpr auto& g_dump_running = g_local.dump_running;
constexpr auto& g_gate_sleeper = g_local.gate_sleeper;  // the dumper waits for the gate

void dump_begin() {
  for (;;) {
    g_dump_running.store(1, std::memory_order_seq_cst);
    uint32_t f = g_gate_pending.load(std::memory_order_seq_cst);
    if (!f) return;
    g_dump_running.store(0, std::memory_order_seq_cst);
    futex_wake_all(&g_dump_running);
    g_gate_sleeper.store(1, std::memory_order_seq_cst);
    futex_wait(&g_gate_pending, f);
    g_gate_sleeper.store(0, std::memory_order_seq_cst);
  }
}

// Only where a fork or a move waits: a wake call walks the kernel's futex
// bucket of the word, which may be shared with thousands of the program's
// waiters (0.4 ms a dump with 10,000 blocked threads here). Dekker with
// gate_enter: it counts itself pending before it reads g_dump_running.
void dump_end() {
  g_dump_running.store(0, std::memory_order_seq_cst);
  if (g_gate_pending.load(std::memory_order_seq_cst)) futex_wake_all(&g_dump_running);
}

// The caller may be signalled by a stop while it waits here: it is running,
// not in a wrapper, so its handler captures it as usual.
void gate_enter() {
  g_gate_pending.fetch_add(1, std::memory_order_seq_cst);
  for (;;) {
    uint32_t d = g_dump_running.load(std::memory_order_seq_cst);
    if (!d) break;
    futex_wait(&g_dump_running, d);
  }
}

void gate_exit() {
  if (g_gate_pending.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
      g_gate_sleeper.load(std::memory_order_seq_cst))
    futex_wake_all(&g_gate_pending);
}

// Loads the private allocator and the unwinder on the first dump, so that a
// process that is never dumped pays nothing for them. On the dumper thread,
// before any stop.
void load_helpers_once() {
  static bool loaded = false;
  if (loaded) return;
  loaded = true;
  if (!alloc_init())
    log_msg("warning: libmimalloc.so.2 not found; using mmap for threadsnap's own memory");
  if (!g_config.unwind_fp && !unwinder_init())
    log_msg("warning: libunwind-x86_64.so.8 not usable; unwinding with frame pointers");
}

// How many threads of this process are alive (a main thread that ended in
// pthread_exit stays a zombie, counted by the kernel, until the process
// ends), or -1 without /proc. The dumper's alone when this is 1.
long live_thread_count() {
  pid_t tids[64];
  uint32_t n = list_tasks(tids, 64);
  if (n == 0) return -1;
  if (n == 64) return 64;  // many: certainly not alone
  long alive = 0;
  for (uint32_t i = 0; i < n; ++i) {
    Line path;
    path.s("/proc/self/task/").u(static_cast<uint64_t>(tids[i])).s("/stat");
    char st[512];
    if (read_small_file(path.data(), st, sizeof(st)) <= 0) continue;
    const char* p = strrchr(st, ')');  // the name may hold spaces and ')'
    if (p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X') ++alive;
  }
  return alive;
}


// The dumper's own file table, empty: what it opens (dump files, /proc,
// libunwind's pipe, the log) never takes a number the program would get, and
// never leaks into the program's children. With THREADSNAP_LOG=stderr it
// keeps a reference to fd 2 to write there.
void private_file_table() {
  unsigned first = g_config.log_to == kLogStderr ? 3 : 0;
  if (raw_syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_UNSHARE) != 0) return;
  if (first) {
    raw_syscall(SYS_close, 0);
    raw_syscall(SYS_close, 1);
  }
  keep_status_fds();  // only in a table of our own
}

// Whether process_vm_readv may be used: a seccomp filter may kill on it
// (systemd's SystemCallFilter=), and a killed process is the one harm a
// dump must never do. Checked in the calling thread's own status.
void check_seccomp() {
  char buf[4096];
  if (read_small_file("/proc/thread-self/status", buf, sizeof(buf)) <= 0) return;
  if (const char* p = strstr(buf, "\nSeccomp:\t"))
    if (p[10] != '0') safe_read_forbid();
}

// With no stop signal left (the program set every real-time signal), the
// dumper is woken through this word instead (threadsnap_trigger() and the
// trigger handler still work; threadsnap dump cannot reach it then).
std::atomic<uint32_t> g_wake_word{0};

// The recorder's token of a record request (preload/writer.h), 0 for any
// other wake.
uint32_t record_token_of(const siginfo_t& si) {
  if (si.si_code != SI_QUEUE) return 0;
  auto v = reinterpret_cast<uintptr_t>(si.si_value.sival_ptr);
  return (v >> 32) == kRecordRequestMagic ? static_cast<uint32_t>(v) : 0;
}

// Waits up to `ms` for our wake signal. True if it came; *record_token: the
// token when every wake taken was a record request with that one token.
bool wait_wake(int ms, uint32_t* record_token) {
  *record_token = 0;
  timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  int sig = g_stop_signal;
  if (!sig) {
    static uint32_t seen = 0;
    uint32_t now = g_wake_word.load(std::memory_order_seq_cst);
    if (now == seen) futex_wait(&g_wake_word, seen, &ts);
    now = g_wake_word.load(std::memory_order_seq_cst);
    bool woken = now != seen;
    seen = now;
    return woken;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  siginfo_t si;
  long r = raw_syscall(SYS_rt_sigtimedwait, reinterpret_cast<long>(&set), reinterpret_cast<long>(&si),
                       reinterpret_cast<long>(&ts), 8);
  if (r <= 0) return false;
  uint32_t token = record_token_of(si);
  // Wakes that came meanwhile are this one (triggers coalesce); a plain
  // request among them makes it a plain dump, which serves a recorder too.
  timespec zero = {0, 0};
  while (raw_syscall(SYS_rt_sigtimedwait, reinterpret_cast<long>(&set), reinterpret_cast<long>(&si),
                     reinterpret_cast<long>(&zero), 8) > 0)
    if (record_token_of(si) != token) token = 0;
  *record_token = token;
  return true;
}

void* dumper_main(void*) {
  // Started with every signal blocked: the program may expect one thread to
  // take its signals, and ours are taken here only by sigtimedwait.
  raw_syscall(SYS_prctl, PR_SET_NAME, reinterpret_cast<long>("threadsnap"));
  // Its short waits for frozen verdicts (coordinator.cpp) must not be
  // stretched by the default 50 us of timer slack.
  raw_syscall(SYS_prctl, PR_SET_TIMERSLACK, 1);
  private_file_table();
  unwinder_thread_keeps_signals_blocked();
  g_dumper_tid.store(raw_gettid(), std::memory_order_seq_cst);
  g_dumper_state.store(2, std::memory_order_seq_cst);
  control_publish();
  int alone_polls = 0;
  for (;;) {
    bool alone_check = g_live_threads.load(std::memory_order_seq_cst) == 0;
    // While no program thread is left, look often at first (the last one is
    // finishing its exit), then less (a helper thread of glibc's lives on).
    int ms = alone_check ? (alone_polls < 200 ? 5 : 1000) : 1000;
    alone_polls = alone_check ? alone_polls + 1 : 0;
    uint32_t record_token = 0;
    bool woken = wait_wake(ms, &record_token);
    if (g_dumper_leave.load(std::memory_order_seq_cst)) break;
    if (g_live_threads.load(std::memory_order_seq_cst) == 0) {
      // Every program thread has ended: end too, so that the process exits
      // as it would without us (glibc calls exit(0) after the last thread).
      // A thread we do not track (a glibc helper) keeps it alive, as it
      // would without us.
      long n = live_thread_count();
      if (n <= 1) break;
    }
    if (!woken && !g_dump_wanted.exchange(0)) continue;
    g_dump_wanted.store(0);
    dump_begin();
    check_seccomp();
    load_helpers_once();
    take_dump(record_token);
    dump_end();
  }
  g_dumper_tid.store(0, std::memory_order_seq_cst);
  g_dumper_state.store(0, std::memory_order_seq_cst);
  control_publish();
  return nullptr;
}

// The dumper's stack: a mapping of the library's own, wiped on fork, above
// an inaccessible guard page. Not a stack of glibc's: that is a mapping
// whose used pages every fork copies, and a fork child writes the thread
// descriptor of every stack of glibc's (its list of stacks), where a stack
// given by the caller is left alone; here a fork copies nothing and the
// child, which has no dumper, never touches it. Not in the library's
// writable segment either (it was, for a while): a PROT_NONE page there
// crashes whoever scans the writable segments of every loaded object
// (LeakSanitizer did; so would the Boehm collector). Made once, reused by
// every later dumper (the child's mapping is its own, zeroed).
constexpr size_t kDumperStackBytes = 256 * 1024;
unsigned char* g_dumper_stack = nullptr;

unsigned char* dumper_stack() {
  if (g_dumper_stack) return g_dumper_stack;
  size_t total = 4096 + kDumperStackBytes;
  void* p = mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                 -1, 0);
  if (p == MAP_FAILED) return nullptr;
  auto* stack = static_cast<unsigned char*>(p) + 4096;
  if (mprotect(stack, kDumperStackBytes, PROT_READ | PROT_WRITE) != 0) {
    munmap(p, total);
    return nullptr;
  }
  madvise(p, total, MADV_WIPEONFORK);  // where refused, a fork copies its used pages
  madvise(stack, kDumperStackBytes, MADV_NOHUGEPAGE);
  g_dumper_stack = stack;
  return stack;
}

// One dumper at a time on that stack: a dumper that ended (step aside, no
// program thread left) may still be on it in glibc's exit path, so it is
// joined first. It has published state 0 as its last act, so the join is
// short; bounded all the same. The join is a cancellation point and the
// program's pthread_create (which gets here) is not one: cancellation is off
// meanwhile.
bool start_dumper_now() {
  if (pthread_t old = g_local.dumper_thread) {
    timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    int cancel;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    int rc = pthread_timedjoin_np(old, nullptr, &until);
    pthread_setcancelstate(cancel, nullptr);
    if (rc != 0) return false;
    g_local.dumper_thread = 0;
  }
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (unsigned char* stack = dumper_stack()) pthread_attr_setstack(&attr, stack, kDumperStackBytes);
  else pthread_attr_setstacksize(&attr, kDumperStackBytes);  // glibc's, then
  // glibc stores the handle before the thread can run (and end): the next
  // start joins even a dumper that ended at once.
  int rc = real_pthread_create(&g_local.dumper_thread, &attr, dumper_main, nullptr);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) g_local.dumper_thread = 0;
  return rc == 0;
}

// Starts the dumper unless it runs or is starting. Ordinary context
// (pthread_create): callers make sure the calling thread holds no lock of
// glibc's (see dumper_wanted).
void ensure_dumper() {
  if (g_disabled || raw_getpid() != g_pid.load(std::memory_order_relaxed)) return;
  int expected = 0;
  if (!g_dumper_state.compare_exchange_strong(expected, 1)) return;
  g_entry_work.fetch_and(~kWorkDumper, std::memory_order_seq_cst);
  registry_settle_fork();  // a fork child's first dumper
  control_create_once();  // a fork child may have none yet
  g_dumper_leave.store(0, std::memory_order_seq_cst);
  if (!start_dumper_now()) {
    g_dumper_state.store(0);
    log_msg("error: cannot start the dumper thread; no dump until the next try");
  }
}

// Whether the stack from sp up holds the return trampoline of a signal
// frame: then this code runs inside a handler of the program's, which may
// have interrupted malloc or the loader. Outside the thread's known stack
// (an alternate signal stack) counts as inside.
TS_NO_ASAN bool inside_a_handler(uintptr_t sp) {
  Record* r = t_self;
  if (!r || !r->stack_hi || !g_restorer || sp < r->stack_lo || sp >= r->stack_hi) return true;
  for (uintptr_t p = sp & ~uintptr_t{7}; p + 8 <= r->stack_hi; p += 8)
    if (*reinterpret_cast<const volatile uintptr_t*>(p) == g_restorer)
      return !(t_prefork_frame && p >= t_prefork_frame);
  return false;
}

// The first real-time signal nobody handles and the program has not set,
// except `avoid` and the trigger; failing that, one the program set to the
// default action (after a "reset every real-time signal" loop). 0 if none.
int pick_stop_signal(int avoid) {
  uint64_t prog = g_program_sigs.load(std::memory_order_relaxed);
  for (int pass = 0; pass < 2; ++pass) {
    for (int sig = SIGRTMIN + 4; sig <= SIGRTMAX - 4; ++sig) {
      if (sig == avoid || sig == g_config.trigger_signal) continue;
      bool set = (prog >> (sig - 1)) & 1;
      if (pass == 0 && set) continue;
      struct sigaction old;
      if (real_sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_DFL &&
          !(old.sa_flags & SA_SIGINFO))
        return sig;
    }
  }
  return 0;
}

bool install_stop_handler(int sig) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = stop_signal_handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
  sigfillset(&sa.sa_mask);
  return real_sigaction(sig, &sa, nullptr) == 0;
}

void trigger_handler(int, siginfo_t*, void* ucv) {
  int saved = errno;
  request_dump(static_cast<uintptr_t>(static_cast<ucontext_t*>(ucv)->uc_mcontext.gregs[REG_RSP]),
               true);
  errno = saved;
}

void install_handlers() {
  g_stop_signal.store(pick_stop_signal(0));
  if (!g_stop_signal || !install_stop_handler(g_stop_signal)) {
    log_msg("error: no free real-time signal to stop threads with; threadsnap is off");
    g_disabled = true;
    return;
  }
  struct {
    void* handler;
    unsigned long flags;
    void* restorer;
    uint64_t mask;
  } k = {};
  if (raw_syscall(SYS_rt_sigaction, g_stop_signal, 0, reinterpret_cast<long>(&k), 8) == 0)
    g_restorer = reinterpret_cast<uintptr_t>(k.restorer);
  // The mask this thread started with (exec keeps it): if it blocks the
  // stop signal, no stop signal is sent to it (shim/signals.cpp).
  uint64_t mask = 0;
  if (t_self && raw_syscall(SYS_rt_sigprocmask, SIG_BLOCK, 0, reinterpret_cast<long>(&mask), 8) == 0 &&
      ((mask >> (g_stop_signal - 1)) & 1))
    t_self->skip_signal.store(true, std::memory_order_relaxed);

  int trig = g_config.trigger_signal;
  if (!trig) return;
  struct sigaction old;
  real_sigaction(trig, nullptr, &old);
  bool taken = (old.sa_flags & SA_SIGINFO) ? old.sa_sigaction != nullptr
                                            : (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN);
  if (taken) {
    Line l;
    l.s("signal ").i(trig).s(" already has a handler in this program; the signal trigger is off (threadsnap dump still works)");
    log_line(l);
    return;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = trigger_handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  real_sigaction(trig, &sa, nullptr);
  g_trigger_signal.store(trig, std::memory_order_relaxed);
}

void atfork_prepare() {
  gate_enter();
  g_registry_lock.lock();
}

void atfork_parent() {
  g_registry_lock.unlock();
  gate_exit();
}

// Each page written in the child costs it a copy-on-write fault: only what
// differs is written.
template <typename T, typename V>
void set_in_child(std::atomic<T>& a, V v) {
  if (a.load(std::memory_order_relaxed) != static_cast<T>(v)) a.store(static_cast<T>(v), std::memory_order_relaxed);
}

// The innermost signal frame on this thread's stack now (for the child's
// t_prefork_frame), looking at most 256 KiB up: reads only, no page of the
// child's is written for it.
TS_NO_ASAN uintptr_t innermost_signal_frame() {
  Record* r = t_self;
  uintptr_t sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  if (!r || !g_restorer || sp < r->stack_lo || sp >= r->stack_hi) return 0;
  uintptr_t top = r->stack_hi - sp > (256u << 10) ? sp + (256u << 10) : r->stack_hi;
  for (uintptr_t p = sp & ~uintptr_t{7}; p + 8 <= top; p += 8)
    if (*reinterpret_cast<const volatile uintptr_t*>(p) == g_restorer) return p;
  return 0;
}

// What a fork child pays for us here is what a pre-forking server pays per
// child (issue 11: fork + exit + wait within 1.2x of plain): one fault for
// this code's page, one for g_local's first page, one getpid. With g_local
// wiped on fork, the gate, the dumper's words, the writer's and the
// control's read as zero already and are not even read; the forking
// thread's record is settled later (registry_settle_fork).
void atfork_child() {
  if (uintptr_t f = innermost_signal_frame()) t_prefork_frame = f;
  else if (t_prefork_frame) t_prefork_frame = 0;
  // First a write: a first read of a wiped page would map the zero page,
  // and the write after it fault again.
  log_reset();  // g_pid
  g_entry_work.store(kWorkRecord, std::memory_order_relaxed);
  if (!g_local_wiped) {
    set_in_child(g_gate_pending, 0);
    set_in_child(g_dump_running, 0);
    set_in_child(g_dumper_state, 0);
    set_in_child(g_dumper_tid, 0);
    set_in_child(g_dump_wanted, 0);
    set_in_child(g_dumper_leave, 0);
    if (g_local.dumper_thread) g_local.dumper_thread = 0;  // the parent's
    writer_after_fork_child();
    control_after_fork_child();
  }
  // Only this thread exists now: a clean registry and no dumper (one starts
  // when this process creates a thread or is asked for a dump). A dump the
  // parent had in progress does not exist here.
  registry_after_fork_child();
  coordinator_after_fork_child();
  set_in_child(g_live_threads, t_self ? 1 : 0);
}

}  // namespace



pid_t dumper_tid() { return g_dumper_tid.load(std::memory_order_relaxed); }

void request_dump(uintptr_t sp, bool in_handler) {
  pid_t t = g_dumper_tid.load(std::memory_order_seq_cst);
  if (t && raw_getpid() == g_pid.load(std::memory_order_relaxed)) {
    if (int sig = g_stop_signal.load()) {
      raw_tgkill(raw_getpid(), t, sig);
    } else {
      g_wake_word.fetch_add(1, std::memory_order_seq_cst);
      futex_wake_all(&g_wake_word);
    }
    return;
  }
  g_dump_wanted.store(1, std::memory_order_seq_cst);
  g_entry_work.fetch_or(kWorkDumper, std::memory_order_seq_cst);
  // No dumper yet (a single-threaded process). Start it here if this thread
  // can hold no lock of glibc's: in a handler, only if it interrupted a
  // wrapped blocking call; never inside a handler of the program's.
  if (in_handler && !t_depth) return;
  if (inside_a_handler(sp)) return;
  ensure_dumper();
}

void entry_work_slow() {
  int w = g_entry_work.load(std::memory_order_seq_cst);
  if (w & kWorkRecord) control_create_once();
  uintptr_t sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  if ((w & kWorkDumper) && !inside_a_handler(sp)) ensure_dumper();
}

void note_no_program_threads() {
  pid_t t = g_dumper_tid.load(std::memory_order_seq_cst);
  if (t && g_stop_signal.load()) raw_tgkill(raw_getpid(), t, g_stop_signal);
  // Without a stop signal the dumper looks at its next timeout.
}

void dumper_step_aside() {
  // Other program threads: the namespace call fails as it would anyway.
  if (g_live_threads.load(std::memory_order_seq_cst) > 1) return;
  pid_t t = g_dumper_tid.load(std::memory_order_seq_cst);
  if (!t) return;
  g_dumper_leave.store(1, std::memory_order_seq_cst);
  pid_t pid = raw_getpid();
  raw_tgkill(pid, t, g_stop_signal);
  // Until the kernel has released the thread (then the process is single
  // threaded again); bounded, like every wait of ours.
  for (int i = 0; i < 20000 && raw_tgkill(pid, t, 0) != -ESRCH; ++i) {
    timespec ts = {0, 100000};
    raw_syscall(SYS_nanosleep, reinterpret_cast<long>(&ts), 0);
  }
}

bool owns_signal(int sig) {
  if (sig <= 0 || g_disabled) return false;
  return sig == g_stop_signal || sig == g_trigger_signal.load(std::memory_order_relaxed);
}

void program_sets_signal(int sig) {
  if (sig <= 0 || sig > 64) return;
  g_program_sigs.fetch_or(uint64_t{1} << (sig - 1), std::memory_order_relaxed);
  if (!owns_signal(sig)) return;
  // Nothing here may be interrupted by a handler of the program's that sets
  // a signal too (the gate, the record's lock).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  if (sig == g_trigger_signal.load(std::memory_order_relaxed)) {
    g_trigger_signal.store(0, std::memory_order_relaxed);
    Line l;
    l.s("the program installed its own handler (or action) for signal ").i(sig)
        .s("; a kill by hand no longer triggers dumps (threadsnap dump still works)");
    log_line(l);
  }
  if (sig == g_stop_signal) {
    // Move to another signal before the program's disposition takes effect:
    // no dump is under way meanwhile (the gate), so none of ours is in
    // flight.
    gate_enter();
    int next = pick_stop_signal(sig);
    if (next && install_stop_handler(next)) {
      g_stop_signal.store(next);
    } else {
      g_stop_signal.store(0);
      log_msg("warning: no free real-time signal left; running threads are no longer captured");
    }
    gate_exit();
    pid_t t = g_dumper_tid.load(std::memory_order_seq_cst);
    if (t && g_stop_signal) raw_tgkill(raw_getpid(), t, g_stop_signal);  // wait on the new one
    // Once: a program that resets every real-time signal moves us many times.
    static bool said = false;
    if (!said) {
      said = true;
      Line l;
      l.s("the program set signal ").i(sig).s(", which threadsnap used; it now uses ")
          .i(g_stop_signal).s(" (the control record has the one in force)");
      log_line(l);
    }
  }
  control_publish();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void ensure_init() {
  // The registry's slots are sized from the configuration, so no thread may
  // register (pthread_create) before both exist: another thread's call
  // waits here until they do (the registry refuses records until then).
  g_init.run([] {
    config_load();
    process_local_init();
    registry_configure(g_config.stack_copy_bytes, static_cast<uint32_t>(g_config.max_frames));
    resolve_all_real();
  });
}

void program_starts_thread() {
  if (g_dumper_state.load(std::memory_order_relaxed) == 0) ensure_dumper();
}

}  // namespace threadsnap::detail

using namespace threadsnap::detail;

__attribute__((constructor)) static void threadsnap_init() {
  ensure_init();
  {
    long n = read_small_file("/proc/self/comm", g_process_name, sizeof(g_process_name));
    if (n > 0 && g_process_name[n - 1] == '\n') g_process_name[n - 1] = 0;
  }
  check_seccomp();
  registry_init_main_thread();
  install_handlers();
  control_create_once();
  if (g_disabled) return;
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
  // Loaded late (dlopen) into a process that has threads already, which we
  // did not see start: it is multi-threaded anyway.
  if (kernel_thread_count() > 1) ensure_dumper();
}

TS_EXPORT int threadsnap_trigger(void) {
  request_dump(reinterpret_cast<uintptr_t>(__builtin_frame_address(0)), false);
  return 0;
}
