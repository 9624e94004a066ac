/* Threads the library did not see start: two threads are created, then the
 * library is dlopen'ed (argv[1]), as a plugin or a debugger would load it,
 * and one more thread is made by a raw clone with no TLS of its own. Each
 * prints "tid NAME TID"; then "ready". The dump must list all of them
 * (tracked=0) with their stacks.
 * CFLAGS line below: -ldl. */
// CFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static int g_pipe[2];
static volatile unsigned long g_sink;

__attribute__((noinline)) void early_wait(void) {
  char c;
  read(g_pipe[0], &c, 1);
  __asm__ volatile("" ::: "memory");
}

static void* early_main(void* name) {
  pthread_setname_np(pthread_self(), (const char*)name);
  printf("tid %s %ld\n", (const char*)name, (long)syscall(SYS_gettid));
  fflush(stdout);
  early_wait();
  return NULL;
}

/* No libc calls: this thread shares the main thread's TLS. */
__attribute__((noinline)) int raw_spin(void* arg) {
  for (;;) g_sink++;
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2 || pipe(g_pipe)) return 2;
  pthread_t a, b;
  pthread_create(&a, NULL, early_main, "early-1");
  pthread_create(&b, NULL, early_main, "early-2");
  if (!dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL)) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 3;
  }
  char* stack = malloc(1 << 20);
  int tid = clone(raw_spin, stack + (1 << 20),
                  CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM,
                  NULL);
  printf("tid raw %d\n", tid);
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}
