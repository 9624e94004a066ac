// threadsnap: thread creation and exit, and thread names.
//
// pthread_create registers the new thread in the creating thread, before the
// real call, so that registration order is creation order (a dump holds a
// prefix of the threads a creator started, as in Go). The new thread starts
// in a trampoline that fills in its tid and stack bounds, announces that it
// runs, and unregisters when it ends (return, pthread_exit or cancellation:
// the guard's destructor runs in each case).
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include <atomic>

#include "preload/coordinator.h"
#include "preload/entry.h"
#include "preload/registry.h"
#include "shim/calls.h"

using namespace threadsnap::detail;

namespace {

using create_fn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
using setname_fn = int (*)(pthread_t, const char*);
using exit_fn = void (*)(void*);
std::atomic<create_fn> g_real_create{nullptr};
std::atomic<setname_fn> g_real_setname{nullptr};
std::atomic<exit_fn> g_real_exit{nullptr};

void wait_creator_done(Record* r);

class ExitGuard {
 public:
  explicit ExitGuard(Record* r) : r_(r) {}
  // t_self stays valid while the thread waits for the registry lock (a stop
  // 1 may hold it and signal this thread, which must then capture itself),
  // and is cleared under the lock, where no stop can begin.
  ~ExitGuard() {
    // The creator may still be using the record (pthread_create).
    wait_creator_done(r_);
    registry_release_self(r_);
  }

 private:
  Record* r_;
};

// The stack size a thread created with attr gets.
size_t stack_size_of(const pthread_attr_t* attr) {
  size_t size = 0;
  if (attr) {
    void* addr = nullptr;
    if (pthread_attr_getstack(attr, &addr, &size) == 0 && addr) return size;
    if (pthread_attr_getstacksize(attr, &size) == 0) return size;
    return 0;
  }
  static std::atomic<size_t> default_size{0};
  size = default_size.load(std::memory_order_relaxed);
  if (!size) {
    pthread_attr_t def;
    if (pthread_getattr_default_np(&def) == 0) {
      pthread_attr_getstacksize(&def, &size);
      pthread_attr_destroy(&def);
    }
    default_size.store(size, std::memory_order_relaxed);
  }
  return size;
}

// Waits until the creator is done with r (pthread_create returned there).
void wait_creator_done(Record* r) {
  if (r->creator_done.load(std::memory_order_seq_cst)) return;
  r->creator_waiting.store(1, std::memory_order_seq_cst);
  while (!r->creator_done.load(std::memory_order_seq_cst)) futex_wait(&r->creator_done, 0);
}

void* trampoline(void* p) {
  Record* r = static_cast<Record*>(p);
  // Our ids first, for a creator that finds us started (it then never reads
  // *thread: the start routine may have freed it).
  r->tid.store(raw_gettid(), std::memory_order_relaxed);
  r->pthread = pthread_self();
  if (r->start_gate.exchange(kGateStarted, std::memory_order_seq_cst) == kGateCreatorReading)
    wait_creator_done(r);  // it reads *thread right now: that memory must live
  registry_fill_stack_bounds(r);
  t_self = r;
  thread_started(r);
  ExitGuard guard(r);
  return r->start_fn(r->start_arg);
}

}  // namespace

namespace threadsnap::detail {

void resolve_misc_real() {
  real_fn(g_real_create, "pthread_create");
  real_fn(g_real_setname, "pthread_setname_np");
  real_fn(g_real_exit, "pthread_exit");
}

int real_pthread_create(pthread_t* t, const pthread_attr_t* a, void* (*fn)(void*), void* arg) {
  return real_fn(g_real_create, "pthread_create")(t, a, fn, arg);
}

}  // namespace threadsnap::detail

TS_EXPORT int pthread_create(pthread_t* t, const pthread_attr_t* attr, void* (*fn)(void*),
                             void* arg) noexcept {
  ensure_init();
  if (g_disabled || t_depth) return real_pthread_create(t, attr, fn, arg);
  program_starts_thread();
  g_registry_lock.lock();
  Record* r = registry_add(kStarting, false);
  g_registry_lock.unlock();
  if (!r) return real_pthread_create(t, attr, fn, arg);
  r->start_fn = fn;
  r->start_arg = arg;
  r->stack_size = stack_size_of(attr);
  // A new thread inherits its creator's signal mask (so whether it blocks
  // the stop signal: shim/signals.cpp) and name, as the kernel does.
  if (t_self) r->skip_signal.store(t_self->skip_signal.load(std::memory_order_relaxed),
                                   std::memory_order_relaxed);
  if (t_self) memcpy(r->name, t_self->name, sizeof(r->name));
  else memcpy(r->name, g_process_name, sizeof(r->name));
  int rc = real_pthread_create(t, attr, trampoline, r);
  // The pthread_t and tid are known before return, so that
  // pthread_setname_np(*t, ...) and a join right after find the record, and
  // a dump that sees the thread starting can list it. glibc wrote *t before
  // the thread could run and never writes it again, and the thread may free
  // that memory (a detached job freeing the struct holding its own
  // pthread_t): *t is read only while the gate keeps the thread from its
  // start routine. If it already started, its trampoline stored both ids.
  if (rc == 0) {
    uint32_t gate = 0;
    if (r->start_gate.compare_exchange_strong(gate, kGateCreatorReading,
                                              std::memory_order_seq_cst)) {
      pthread_t pt = *t;
      r->pthread = pt;
      // glibc's thread CPU clock id encodes the tid (~tid << 3 | 6).
      clockid_t clk;
      if (!r->tid.load(std::memory_order_relaxed) && pthread_getcpuclockid(pt, &clk) == 0 &&
          (clk & 7) == 6) {
        pid_t tid = ~(clk >> 3);  // arithmetic shift: clk is negative
        pid_t expected = 0;
        r->tid.compare_exchange_strong(expected, tid, std::memory_order_relaxed);
      }
    }
    r->creator_done.store(1, std::memory_order_seq_cst);
    if (r->creator_waiting.load(std::memory_order_seq_cst)) futex_wake_all(&r->creator_done);
  }
  if (rc != 0) {
    g_registry_lock.lock();
    r->omit = true;  // it never existed, even if a dump saw it starting
    registry_release(r);
    g_registry_lock.unlock();
  }
  return rc;
}

TS_EXPORT int pthread_setname_np(pthread_t t, const char* name) noexcept {
  int rc = real_fn(g_real_setname, "pthread_setname_np")(t, name);
  if (rc == 0) {
    if (t_self && pthread_equal(t, pthread_self())) {
      registry_set_name(t_self, name);
    } else {
      g_registry_lock.lock();
      uint32_t hw = g_hi_water.load();
      for (uint32_t i = 0; i < hw; ++i) {
        if (state_kind(g_state[i].load()) == kFree) continue;
        Record* r = record_at(i);
        if (r && !r->foreign && r->pthread == t) {
          registry_set_name(r, name);
          break;
        }
      }
      g_registry_lock.unlock();
    }
  }
  return rc;
}

// A thread started through the trampoline is released by its ExitGuard,
// whichever way it ends. The main thread (and the one thread of a forked
// child of it) has no guard: when it ends with pthread_exit, the process
// lives on and its zombie task still answers tgkill(..., 0), so a kept
// record would make every later stop wait the whole stop timeout for it.
// Released here, under the registry lock as ExitGuard does, before the real
// call (which unwinds: cleanup handlers and destructors run untracked). Not
// inside a wrapped call (a handler that interrupted one, or a cleanup
// handler): the wrapper's scope still refers to the record as it unwinds.
// Not noexcept: glibc's pthread_exit unwinds through this frame.
TS_EXPORT void pthread_exit(void* retval) {
  exit_fn fn = real_fn(g_real_exit, "pthread_exit");
  Record* r = t_self;
  if (r && !r->foreign && !r->start_fn && !t_depth) registry_release_self(r);
  fn(retval);
  __builtin_unreachable();
}
