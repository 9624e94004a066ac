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
std::atomic<create_fn> g_real_create{nullptr};
std::atomic<setname_fn> g_real_setname{nullptr};

class ExitGuard {
 public:
  explicit ExitGuard(Record* r) : r_(r) {}
  // t_self stays valid while the thread waits for the registry lock (a stop
  // 1 may hold it and signal this thread, which must then capture itself),
  // and is cleared under the lock, where no stop can begin.
  ~ExitGuard() {
    // The creator may still be reading our pthread_t (pthread_create).
    if (!r_->creator_done.load(std::memory_order_seq_cst)) {
      r_->creator_waiting.store(1, std::memory_order_seq_cst);
      while (!r_->creator_done.load(std::memory_order_seq_cst)) futex_wait(&r_->creator_done, 0);
    }
    g_registry_lock.lock();
    registry_release(r_);
    t_self = nullptr;
    g_registry_lock.unlock();
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

void* trampoline(void* p) {
  Record* r = static_cast<Record*>(p);
  r->tid.store(raw_gettid(), std::memory_order_relaxed);
  r->pthread = pthread_self();
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
  // A new thread inherits its creator's name, as the kernel does.
  if (t_self) memcpy(r->name, t_self->name, sizeof(r->name));
  else memcpy(r->name, g_process_name, sizeof(r->name));
  int rc = real_pthread_create(t, attr, trampoline, r);
  // Known before return, so that pthread_setname_np(*t, ...) and a join
  // right after find the record (the trampoline stores the same values).
  if (rc == 0) {
    r->pthread = *t;
    // The tid, even if the new thread has not run yet, so that a dump that
    // sees it starting can list it. glibc's thread CPU clock id encodes the
    // tid (~tid << 3 | 6). *t is safe to use here even for a detached
    // thread: the thread waits for creator_done before it can exit.
    clockid_t clk;
    if (!r->tid.load(std::memory_order_relaxed) && pthread_getcpuclockid(*t, &clk) == 0 &&
        (clk & 7) == 6) {
      pid_t tid = ~(clk >> 3);  // arithmetic shift: clk is negative
      pid_t expected = 0;
      r->tid.compare_exchange_strong(expected, tid, std::memory_order_relaxed);
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
