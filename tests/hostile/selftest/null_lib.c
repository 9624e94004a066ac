/* A stand-in for libthreadsnap.so that harms nothing, for
 * `test_hostile.sh --selftest`: it shows that each hostile case can pass,
 * i.e. that a case fails on the real library because of the library, not
 * because of the harness. It exports threadsnap_trigger() and catches
 * SIGUSR2 (installed with the raw syscall in the constructor); both write a
 * small complete dump file into $THREADSNAP_DIR at once, with the same name
 * pattern as the real one. It owns no fd, thread or other signal.
 * Expected: every case passes except sigquery (SIGUSR2 has a handler). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_int g_seq;
static char g_dir[512];

static void write_dump(void) {
  if (!g_dir[0]) return;
  int saved = errno;
  int pid = (int)getpid(), seq = atomic_fetch_add(&g_seq, 1) + 1;
  char tmp[600], path[600], body[256];
  snprintf(tmp, sizeof tmp, "%s/.null.%d.%d.tmp", g_dir, pid, seq);
  snprintf(path, sizeof path, "%s/threadsnap.%d.%d.txt", g_dir, pid, seq);
  int n = snprintf(body, sizeof body,
                   "threadsnap 1\npid %d\nstop1_ns 1000\nthreads 1\n"
                   "thread tid=%d name=x state=running via=signal\n  0x1234\nend\n", pid, pid);
  int fd = (int)syscall(SYS_openat, AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    if (write(fd, body, (size_t)n) != n) {}
    close(fd);
    rename(tmp, path);
  }
  errno = saved;
}

int threadsnap_trigger(void) { write_dump(); return 0; }

static void on_usr2(int sig) { (void)sig; write_dump(); }

struct k_sigaction { void (*handler)(int); unsigned long flags; void (*restorer)(void); unsigned long mask; };
extern void null_restorer(void);
__asm__(".text\n.globl null_restorer\nnull_restorer:\n  mov $15, %rax\n  syscall\n");

__attribute__((constructor)) static void init(void) {
  const char* d = getenv("THREADSNAP_DIR");
  if (d) snprintf(g_dir, sizeof g_dir, "%s", d);
  /* Raw rt_sigaction: the program's own sigaction calls are not involved. */
  struct k_sigaction ka = {on_usr2, 0x04000000 /* SA_RESTORER */ | SA_RESTART, null_restorer, 0};
  syscall(SYS_rt_sigaction, SIGUSR2, &ka, NULL, 8);
}
