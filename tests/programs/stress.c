/* Threads that are likely to be stopped at an awkward place by stop 1:
 *   dl    dlopen/dlsym/dlclose of libtinyplug.so in a loop (inside the loader, with
 *         its lock held)
 *   mal   malloc/free of varied sizes in a loop (inside the allocator, with
 *         its arena lock held)
 *   unw   unw_backtrace in a loop (inside libunwind, with its cache lock held)
 * A dump must complete and the program must go on. Main, blocked in read(0),
 * answers '?' with "stats dl=N mal=M unw=U"; EOF ends it.
 * Prints "tid NAME TID" for each and "ready". */
// CFLAGS: -ldl -lunwind
#include "testprog.h"

#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <libunwind.h>

static unsigned long g_dl, g_mal, g_unw;
static char g_plugin[PATH_MAX + 32];

NOIPA void do_dlopen(void* a) {
  for (;;) {
    void* h = dlopen(g_plugin, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      tp_line("dlopen failed: %s", dlerror());
      _exit(3);
    }
    int (*f)(void) = (int (*)(void))dlsym(h, "tiny_value");
    if (!f || f() != 2) {
      tp_line("dlsym failed");
      _exit(3);
    }
    dlclose(h);
    __atomic_add_fetch(&g_dl, 1, __ATOMIC_RELAXED);
  }
}

NOIPA void do_malloc(void* a) {
  void* keep[64] = {0};
  unsigned x = 12345;
  for (;;) {
    for (int i = 0; i < 64; i++) {
      x = x * 1103515245u + 12345u;
      size_t sz = (x >> 8) % 4096 + 1;
      if ((x & 0xff) == 7) sz = 200000 + (x & 0xffff); /* mmap-sized now and then */
      free(keep[i]);
      keep[i] = malloc(sz);
      if (keep[i]) memset(keep[i], 1, sz < 64 ? sz : 64);
    }
    __atomic_add_fetch(&g_mal, 1, __ATOMIC_RELAXED);
  }
}

NOIPA void unw_inner(void) {
  void* buf[64];
  int n = unw_backtrace(buf, 64);
  if (n < 5) {
    tp_line("unw_backtrace returned %d", n);
    _exit(3);
  }
  TP_TOUCH(n);
}

NOIPA void do_unwind(void* a) {
  for (;;) {
    unw_inner();
    __atomic_add_fetch(&g_unw, 1, __ATOMIC_RELAXED);
  }
}

struct worker {
  const char* name;
  tp_op op;
  pid_t tid;
};
static struct worker g_workers[] = {{"dl", do_dlopen, 0}, {"mal", do_malloc, 0}, {"unw", do_unwind, 0}};
static volatile int g_started;

NOIPA void* thread_main(void* arg) {
  struct worker* w = arg;
  pthread_setname_np(pthread_self(), w->name);
  w->tid = tp_gettid();
  __atomic_add_fetch(&g_started, 1, __ATOMIC_SEQ_CST);
  chain_a(w->op, NULL);
  TP_TOUCH(1);
  return NULL;
}

int main(void) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) tp_die("readlink");
  exe[n] = 0;
  snprintf(g_plugin, sizeof g_plugin, "%s/libtinyplug.so", dirname(exe));
  pthread_setname_np(pthread_self(), "stress-main");
  for (size_t i = 0; i < sizeof g_workers / sizeof g_workers[0]; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, &g_workers[i])) tp_die("pthread_create");
  }
  while (__atomic_load_n(&g_started, __ATOMIC_SEQ_CST) < 3) usleep(1000);
  for (size_t i = 0; i < 3; i++) tp_line("tid %s %d", g_workers[i].name, (int)g_workers[i].tid);
  tp_line("tid stress-main %d", (int)tp_gettid());
  tp_line("ready");
  char buf[64];
  ssize_t r;
  while ((r = read(0, buf, sizeof buf)) != 0) {
    for (ssize_t i = 0; i < r; i++)
      if (buf[i] == '?')
        tp_line("stats dl=%lu mal=%lu unw=%lu", __atomic_load_n(&g_dl, __ATOMIC_RELAXED),
                __atomic_load_n(&g_mal, __ATOMIC_RELAXED), __atomic_load_n(&g_unw, __ATOMIC_RELAXED));
  }
  return 0;
}
