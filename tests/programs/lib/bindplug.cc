// A C++ plugin that a C program (dlbind.c) dlopens. It reports which objects
// its own references to operator new, operator delete, malloc and the
// unwinder (_Unwind_RaiseException, __cxa_throw) resolve to, throws and
// catches an exception, and cancels a thread blocked in a wrapped call to
// check that C++ destructors still run (they do not if the unwinder that
// libstdc++ binds to is not libgcc_s's).
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <unwind.h>

#include <atomic>
#include <cstddef>
#include <new>
#include <stdexcept>
#include <string>

extern "C" void __cxa_throw(void*, void*, void (*)(void*));

namespace {
std::atomic<int> g_dtors{0};
struct Guard {
  ~Guard() { g_dtors++; }
};
pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
std::atomic<bool> g_started{false};

void* victim(void*) {
  Guard g;
  std::string s(100, 'x');  // heap memory owned by a destructor too
  pthread_mutex_lock(&g_mu);
  pthread_cleanup_push([](void*) { pthread_mutex_unlock(&g_mu); }, nullptr);
  g_started = true;
  for (;;) pthread_cond_wait(&g_cv, &g_mu);
  pthread_cleanup_pop(0);
  return nullptr;
}
}  // namespace

extern "C" __attribute__((visibility("default"))) int plugin_report(
    void (*print)(const char* what, void* addr)) {
  print("plugin:operator_new", reinterpret_cast<void*>(
                                   static_cast<void* (*)(std::size_t)>(&::operator new)));
  print("plugin:operator_delete",
        reinterpret_cast<void*>(static_cast<void (*)(void*) noexcept>(&::operator delete)));
  print("plugin:malloc", reinterpret_cast<void*>(&malloc));
  print("plugin:free", reinterpret_cast<void*>(&free));
  print("plugin:_Unwind_RaiseException", reinterpret_cast<void*>(&_Unwind_RaiseException));
  print("plugin:_Unwind_Resume", reinterpret_cast<void*>(&_Unwind_Resume));
  print("plugin:__cxa_throw", reinterpret_cast<void*>(&__cxa_throw));

  int caught = 0;
  try {
    throw std::runtime_error("plugin");
  } catch (const std::exception& e) {
    caught = std::string(e.what()) == "plugin";
  }

  pthread_t t;
  pthread_create(&t, nullptr, victim, nullptr);
  while (!g_started) usleep(500);
  pthread_mutex_lock(&g_mu);  // the victim is inside pthread_cond_wait now
  pthread_mutex_unlock(&g_mu);
  pthread_cancel(t);
  void* res = nullptr;
  pthread_join(t, &res);
  return caught * 100 + (res == PTHREAD_CANCELED) * 10 + g_dtors.load();
}
