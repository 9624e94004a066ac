/* A C program that dlopens a C++ plugin (libbindplug.so): the objects that
 * malloc, operator new (_Znwm) and the unwinder resolve to must be the same
 * with and without threadsnap preloaded (the library must keep its own
 * allocator and libunwind out of the global scope). Prints one line per
 * symbol, "WHAT FILE SYMBOL", and the plugin's self-check
 * ("plugin_result 111": caught an exception, cancel worked, destructor ran). */
#include "testprog.h"

#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>

static void print(const char* what, void* addr) {
  Dl_info info;
  memset(&info, 0, sizeof info);
  if (!addr || !dladdr(addr, &info)) {
    tp_line("%s unresolved -", what);
    return;
  }
  tp_line("%s %s %s", what, info.dli_fname ? info.dli_fname : "?",
          info.dli_sname ? info.dli_sname : "?");
}

int main(void) {
  print("main:malloc", (void*)&malloc);
  print("main:free", (void*)&free);
  print("main:pthread_cond_wait", (void*)&pthread_cond_wait);

  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) tp_die("readlink");
  exe[n] = 0;
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/libbindplug.so", dirname(exe));
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    tp_line("dlopen failed: %s", dlerror());
    return 2;
  }
  print("global:_Znwm", dlsym(RTLD_DEFAULT, "_Znwm"));
  print("global:malloc", dlsym(RTLD_DEFAULT, "malloc"));
  print("global:_Unwind_RaiseException", dlsym(RTLD_DEFAULT, "_Unwind_RaiseException"));
  print("global:_Unwind_Backtrace", dlsym(RTLD_DEFAULT, "_Unwind_Backtrace"));
  print("handle:_Znwm", dlsym(h, "_Znwm"));
  print("handle:_ZdlPv", dlsym(h, "_ZdlPv"));
  print("handle:malloc", dlsym(h, "malloc"));
  print("handle:_Unwind_RaiseException", dlsym(h, "_Unwind_RaiseException"));
  print("handle:_Unwind_Resume", dlsym(h, "_Unwind_Resume"));
  int (*report)(void (*)(const char*, void*)) =
      (int (*)(void (*)(const char*, void*)))dlsym(h, "plugin_report");
  if (!report) tp_die("plugin_report");
  tp_line("plugin_result %d", report(print));
  dlclose(h);
  tp_line("end");
  return 0;
}
