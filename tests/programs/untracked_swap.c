/* untracked_swap: between two dumps an untracked thread (a raw clone, which
 * the library never sees start) ends and another is born, so the kernel's
 * thread count and the library's own counts are the same before and after.
 * A dump that skipped the /proc/self/task scan on those counts alone would
 * list the dead thread and miss the new one (issue 13: the scan is skipped
 * only when nothing says a thread may be untracked).
 * Prints "tid raw1 TID" and "ready". Commands on stdin:
 *   swap  -> raw1 ends, raw2 starts: "tid raw2 TID"
 *   quit */
#define _GNU_SOURCE
#include "testprog.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>

static atomic_int g_leave;
static volatile long g_sink;

/* No libc calls: these threads share the main thread's TLS. */
NOIPA int raw_spin(void* arg) {
  for (;;) {
    g_sink = g_sink + 1;
    if (arg && atomic_load(&g_leave)) {
      long rc;
      __asm__ volatile("syscall" : "=a"(rc) : "a"(SYS_exit), "D"(0) : "rcx", "r11", "memory");
    }
  }
  return 0;
}

static int start_raw(int can_leave) {
  char* stack = malloc(1 << 20);
  return clone(raw_spin, stack + (1 << 20),
               CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM,
               can_leave ? (void*)1 : NULL);
}

int main(void) {
  int raw1 = start_raw(1);
  tp_line("tid raw1 %d", raw1);
  tp_line("ready");
  /* read(2) itself (a wrapped call), not stdio: a trigger landing here
   * starts the dumper of this process, which has no pthread. */
  char line[64];
  ssize_t n;
  while ((n = read(0, line, sizeof line - 1)) > 0) {
    line[n] = 0;
    if (!strncmp(line, "swap", 4)) {
      atomic_store(&g_leave, 1);
      while (syscall(SYS_tgkill, getpid(), raw1, 0) == 0) sched_yield();
      tp_line("tid raw2 %d", start_raw(0));
    } else if (!strncmp(line, "quit", 4)) {
      break;
    }
  }
  _exit(0);
}
