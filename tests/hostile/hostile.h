/* Shared helpers of the hostile programs (issue 11, "never harm the host").
 *
 * Each program does something legal that a host program may do (close every
 * fd, reset every signal, install a seccomp filter, ...), runs plainly and
 * under the library (tests/scripts/test_hostile.sh), and must behave the
 * same: stdout, stderr and exit status are compared byte for byte. So what a
 * program prints on stdout/stderr must not depend on whether the library is
 * loaded; everything else goes to the side report.
 *
 * Side report: lines appended to the file named by $HOSTILE_REPORT, each
 * written by open+write+close (no fd is kept, so fd numbering stays as the
 * program expects). The runner fails the case on any line "fail: ...", and
 * checks "dumps N" (dumps the program waited for) against the dump dir.
 *
 * Dumps: h_dump() calls the library's exported threadsnap_trigger() (found
 * with dlsym; absent in the plain run, where it does nothing) and waits, by
 * polling the dump dir, until a new complete dump file of this pid appears
 * (at most H_DUMP_WAIT_MS; after one that did not come, later dumps are
 * triggered but not waited for). h_dump_signal() does the same through
 * kill(getpid(), SIGUSR2), only when the library is loaded. */
#ifndef THREADSNAP_HOSTILE_H
#define THREADSNAP_HOSTILE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../programs/testprog.h"

#define H_UNUSED __attribute__((unused))
#define H_DUMP_WAIT_MS 3000

/* One line to fd FD with one write(2) (testprog.h's tp_vfdline). */
H_UNUSED static void h_fdline(int fd, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tp_vfdline(fd, fmt, ap);
  va_end(ap);
}
#define h_out(...) h_fdline(1, __VA_ARGS__)

/* One line of the side report (see above). Keeps errno. */
H_UNUSED static void h_report(const char* fmt, ...) {
  int saved = errno;
  const char* path = getenv("HOSTILE_REPORT");
  if (!path || !*path) { errno = saved; return; }
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) { errno = saved; return; }
  if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ssize_t w = write(fd, buf, (size_t)n);
    (void)w;
    close(fd);
  }
  errno = saved;
}

#define h_fail(...) h_report("fail: " __VA_ARGS__)

H_UNUSED static long h_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

H_UNUSED static void h_sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

typedef int (*h_trigger_fn)(void);

/* threadsnap_trigger if the library is loaded, else NULL. */
H_UNUSED static h_trigger_fn h_trigger_fn_get(void) {
  return (h_trigger_fn)dlsym(RTLD_DEFAULT, "threadsnap_trigger");
}

H_UNUSED static int h_lib_loaded(void) { return h_trigger_fn_get() != NULL; }

/* Complete dump files of this pid in $THREADSNAP_DIR (final names only). */
H_UNUSED static int h_count_dumps(void) {
  const char* dir = getenv("THREADSNAP_DIR");
  if (!dir) return 0;
  char prefix[64];
  int pl = snprintf(prefix, sizeof prefix, "threadsnap.%d.", (int)getpid());
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;
  DIR* d = fdopendir(fd);
  if (!d) { close(fd); return 0; }
  int n = 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (strncmp(e->d_name, prefix, (size_t)pl) == 0 && len > 4 &&
        strcmp(e->d_name + len - 4, ".txt") == 0)
      n++;
  }
  closedir(d);
  return n;
}

static int h_dumps_waited;
static int h_dumps_broken;  // a dump did not come: later ones are not waited for

/* Waits until more than BEFORE dump files exist; reports a failure if none
 * comes within H_DUMP_WAIT_MS. Returns 1 if it came. */
H_UNUSED static int h_wait_dump(int before, const char* how) {
  if (h_dumps_broken) return 0;
  long deadline = h_now_ms() + H_DUMP_WAIT_MS;
  while (h_count_dumps() <= before) {
    if (h_now_ms() > deadline) {
      h_fail("no dump file within %d ms after %s", H_DUMP_WAIT_MS, how);
      h_dumps_broken = 1;
      return 0;
    }
    h_sleep_ms(2);
  }
  h_dumps_waited++;
  return 1;
}

/* A dump through threadsnap_trigger(), waited for. Nothing without the library. */
H_UNUSED static int h_dump(void) {
  h_trigger_fn t = h_trigger_fn_get();
  if (!t) return 1;
  int before = h_count_dumps();
  t();
  return h_wait_dump(before, "threadsnap_trigger()");
}

/* A dump through a process-directed SIGUSR2, waited for. Nothing without the
 * library (SIGUSR2 would kill a plain process). */
H_UNUSED static int h_dump_signal(void) {
  if (!h_lib_loaded()) return 1;
  int before = h_count_dumps();
  kill(getpid(), SIGUSR2);
  return h_wait_dump(before, "kill(getpid(), SIGUSR2)");
}

/* Reports every signal >= 34 (real-time: threadsnap's stop signal is one)
 * pending in any thread of this process or in the process. */
H_UNUSED static void h_check_pending(const char* when) {
  DIR* d = opendir("/proc/self/task");
  if (!d) { h_fail("cannot open /proc/self/task"); return; }
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[300], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
    FILE* f = fopen(path, "re");
    if (!f) continue;  // the thread ended meanwhile
    while (fgets(line, sizeof line, f)) {
      int shared = strncmp(line, "ShdPnd:", 7) == 0;
      if (!shared && strncmp(line, "SigPnd:", 7) != 0) continue;
      unsigned long long mask = strtoull(line + 7, NULL, 16);
      for (int sig = 34; sig <= 64; sig++)
        if (mask & (1ULL << (sig - 1)))
          h_fail("%s: signal %d pending (%s of task %s)", when, sig, shared ? "ShdPnd" : "SigPnd",
                 e->d_name);
    }
    fclose(f);
  }
  closedir(d);
}

/* Call just before the program ends normally: the pending check and the
 * number of dumps waited for. */
H_UNUSED static void h_finish(void) {
  h_check_pending("at exit");
  h_report("dumps %d", h_dumps_waited);
}

/* Threads that spin until h_spin_stop (so that a dump has running threads
 * to stop). */
static atomic_int h_spin_quit;
static atomic_int h_spin_running;
static pthread_t h_spin_threads[8];
static int h_spin_n;

H_UNUSED static void* h_spin_main(void* arg) {
  (void)arg;
  atomic_fetch_add(&h_spin_running, 1);
  volatile unsigned long x = 0;
  while (!atomic_load_explicit(&h_spin_quit, memory_order_relaxed)) x++;
  return NULL;
}

H_UNUSED static void h_spin_start(int n) {
  for (int i = 0; i < n && h_spin_n < 8; i++)
    if (pthread_create(&h_spin_threads[h_spin_n], NULL, h_spin_main, NULL) == 0) h_spin_n++;
  while (atomic_load(&h_spin_running) < h_spin_n) sched_yield();
}

H_UNUSED static void h_spin_stop(void) {
  atomic_store(&h_spin_quit, 1);
  for (int i = 0; i < h_spin_n; i++) pthread_join(h_spin_threads[i], NULL);
  h_spin_n = 0;
}

/* The path of this program, for a re-exec. */
H_UNUSED static const char* h_self(void) {
  static char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "/proc/self/exe";
  buf[n] = 0;
  return buf;
}

/* Forks a child that execs this program with the argument "child"; its
 * wait status. */
H_UNUSED static int h_run_self_child(void) {
  pid_t pid = fork();
  if (pid == 0) {
    execl(h_self(), h_self(), "child", (char*)NULL);
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return st;
}

#endif
