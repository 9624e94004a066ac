// C++ standard-library waits: each goes through libstdc++ (GCC 12) into a
// wrapped libc call: std::counting_semaphore -> syscall(SYS_futex),
// std::mutex -> pthread_mutex_lock, std::timed_mutex::try_lock_for ->
// pthread_mutex_clocklock, std::condition_variable -> pthread_cond_wait /
// pthread_cond_clockwait, std::shared_mutex -> pthread_rwlock_rdlock,
// std::this_thread::sleep_for -> nanosleep, std::thread::join -> pthread_join.
// Same protocol as blockers.c (expect lines, ready, EOF on stdin ends it).
#include "testprog.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <semaphore>
#include <shared_mutex>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

static std::counting_semaphore<16> g_sem(0);
static std::mutex g_mu;
static std::timed_mutex g_tmu;
static std::mutex g_cv_mu, g_cv2_mu;
static std::condition_variable g_cv, g_cv2;
static std::shared_mutex g_shared;
static volatile bool g_never = false;
static std::counting_semaphore<64> g_started(0);

static void woke(const char* what) { tp_line("woke %s", what); }

extern "C" {
NOIPA void do_sem_acquire(void*) {
  for (;;) { g_sem.acquire(); woke("csem"); }
}
NOIPA void do_mutex(void*) {
  for (;;) { g_mu.lock(); woke("cmutex"); }
}
NOIPA void do_timed_mutex(void*) {
  for (;;) { if (g_tmu.try_lock_for(3600s)) woke("ctimed"); }
}
NOIPA void do_cv_wait(void*) {
  std::unique_lock<std::mutex> l(g_cv_mu);
  for (;;) { g_cv.wait(l); woke("ccv"); }
}
NOIPA void do_cv_wait_until(void*) {
  std::unique_lock<std::mutex> l(g_cv2_mu);
  for (;;) {
    if (g_cv2.wait_until(l, std::chrono::steady_clock::now() + 3600s) == std::cv_status::no_timeout)
      woke("ccv_until");
  }
}
NOIPA void do_shared(void*) {
  for (;;) { g_shared.lock_shared(); woke("cshared"); }
}
NOIPA void do_sleep_for(void*) {
  for (;;) { std::this_thread::sleep_for(3600s); woke("csleep"); }
}
static std::thread* g_join_target;
static pid_t g_forever_tid;
NOIPA void do_forever() {
  pthread_setname_np(pthread_self(), "cforever");
  g_forever_tid = tp_gettid();
  g_started.release();
  while (!g_never) pause();
  TP_TOUCH(1);
}
NOIPA void do_thread_join(void*) {
  g_join_target->join();
  woke("cjoin");
  for (;;) pause();
}
}

struct Worker {
  const char* name;
  tp_op op;
  const char* call;
  uintptr_t obj;  // 0: unchecked
  const char* func;
  bool at_top;    // the op calls the libc function directly (inlined library code)
  pid_t tid = 0;
};

static std::vector<Worker> g_workers = {
  {"csem", do_sem_acquire, "syscall", reinterpret_cast<uintptr_t>(&g_sem), "do_sem_acquire", false},
  {"cmutex", do_mutex, "pthread_mutex_lock", reinterpret_cast<uintptr_t>(g_mu.native_handle()), "do_mutex", true},
  {"ctimed", do_timed_mutex, "pthread_mutex_clocklock", reinterpret_cast<uintptr_t>(g_tmu.native_handle()), "do_timed_mutex", false},
  {"ccv", do_cv_wait, "pthread_cond_wait", reinterpret_cast<uintptr_t>(g_cv.native_handle()), "do_cv_wait", false},
  {"ccv_until", do_cv_wait_until, "pthread_cond_clockwait", reinterpret_cast<uintptr_t>(g_cv2.native_handle()), "do_cv_wait_until", false},
  {"cshared", do_shared, "pthread_rwlock_rdlock", reinterpret_cast<uintptr_t>(&g_shared), "do_shared", false},
  {"csleep", do_sleep_for, "nanosleep", 0, "do_sleep_for", false},
  {"cjoin", do_thread_join, "pthread_join", 0, "do_thread_join", false},
};

extern "C" NOIPA void* thread_main(void* arg) {
  auto* w = static_cast<Worker*>(arg);
  pthread_setname_np(pthread_self(), w->name);
  w->tid = tp_gettid();
  g_started.release();
  chain_a(w->op, nullptr);
  TP_TOUCH(1);
  return nullptr;
}

extern "C" NOIPA void main_wait() {
  char buf[64];
  for (;;) {
    ssize_t r = read(0, buf, sizeof buf);
    if (r == 0) break;
  }
  TP_TOUCH(1);
}

int main() {
  g_mu.lock();
  g_tmu.lock();
  g_shared.lock();
  // A std::thread that never ends, for std::thread::join.
  g_join_target = new std::thread(do_forever);
  g_started.acquire();
  pthread_setname_np(pthread_self(), "cxx-main");
  std::vector<pthread_t> threads(g_workers.size());
  for (size_t i = 0; i < g_workers.size(); i++)
    if (pthread_create(&threads[i], nullptr, thread_main, &g_workers[i])) tp_die("pthread_create");
  for (size_t i = 0; i < g_workers.size(); i++) g_started.acquire();
  for (auto& w : g_workers) {
    char obj[32] = "-";
    if (w.obj) snprintf(obj, sizeof obj, "0x%lx", static_cast<unsigned long>(w.obj));
    tp_line("tid %s %d", w.name, static_cast<int>(w.tid));
    tp_line("expect %s %d blocked %s %s %s%s," TP_CHAIN, w.name, static_cast<int>(w.tid), w.call,
            obj, w.at_top ? "^" : "", w.func);
  }
  tp_line("tid cforever %d", static_cast<int>(g_forever_tid));
  tp_line("expect cforever %d blocked pause - ^do_forever", static_cast<int>(g_forever_tid));
  tp_line("tid cxx-main %d", static_cast<int>(tp_gettid()));
  tp_line("expect cxx-main %d blocked read 0x0 ^main_wait,main", static_cast<int>(tp_gettid()));
  tp_line("ready");
  main_wait();
  tp_line("bye");
  _exit(0);  // the std::thread objects are still joinable: skip their destructors
}
