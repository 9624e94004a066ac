/* Shared helpers of the reliability programs (tests/programs/rel_*.c(c)),
 * driven by tests/integration/reliability_test.cpp and tests/scripts/test_rel_*.sh.
 *
 * Protocol on stdout, one line per write(2) so lines of threads never mix:
 *   tid NAME TID        a thread's kernel tid (the harness collects these)
 *   ready               set-up is complete
 *   ok ... / FAIL ...   results of checks the program makes itself
 * Commands arrive one per line on stdin (rel_read_cmd).
 *
 * The programs also run without the library: threadsnap_trigger is looked up
 * with dlsym, never linked. Not async-signal-safe unless a comment says so. */
#ifndef THREADSNAP_REL_UTIL_H
#define THREADSNAP_REL_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "testprog.h"

#define REL_UNUSED __attribute__((unused))
#define REL_NOIPA __attribute__((noipa))

/* The line protocol's writers are testprog.h's (one write(2) per line). */
#define rel_gettid tp_gettid
#define rel_line tp_line
#define rel_register tp_register

/* tp_die's twin for these programs, whose failures are "FAIL ..." lines. */
REL_UNUSED static void rel_die(const char* what) {
  tp_line("FAIL %s errno=%d", what, errno);
  _exit(3);
}

REL_UNUSED static uint64_t rel_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Sleeps `ms` milliseconds whatever signals arrive. */
REL_UNUSED static void rel_sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* threadsnap_trigger() if the library is loaded, else -1. */
REL_UNUSED static int rel_trigger(void) {
  static int (*fn)(void);
  static int looked;
  if (!looked) {
    fn = (int (*)(void))dlsym(RTLD_DEFAULT, "threadsnap_trigger");
    looked = 1;
  }
  return fn ? fn() : -1;
}

REL_UNUSED static int rel_library_loaded(void) {
  return dlsym(RTLD_DEFAULT, "threadsnap_trigger") != NULL;
}

/* $THREADSNAP_DIR/threadsnap.PID.SEQ.txt into buf. */
REL_UNUSED static void rel_dump_path(char* buf, size_t n, pid_t pid, int seq) {
  const char* dir = getenv("THREADSNAP_DIR");
  if (!dir || !*dir) dir = getenv("TMPDIR");
  if (!dir || !*dir) dir = "/tmp";
  snprintf(buf, n, "%s/threadsnap.%d.%d.txt", dir, (int)pid, seq);
}

/* Reads a whole file (at most cap-1 bytes) into a NUL-terminated buffer.
 * Returns the length or -1. */
REL_UNUSED static long rel_read_file(const char* path, char* buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t n = 0;
  while (n + 1 < cap) {
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = 0;
  return (long)n;
}

/* Waits up to `ms` for dump SEQ of PID to exist; returns its text length
 * (text in buf) or -1 on timeout. A dump with its final name is whole. */
REL_UNUSED static long rel_wait_dump(pid_t pid, int seq, char* buf, size_t cap, long ms) {
  char path[1200];
  rel_dump_path(path, sizeof path, pid, seq);
  uint64_t deadline = rel_now_ms() + (uint64_t)ms;
  for (;;) {
    if (access(path, F_OK) == 0) return rel_read_file(path, buf, cap);
    if (rel_now_ms() > deadline) return -1;
    rel_sleep_ms(2);
  }
}

/* Waits up to `ms` for any dump file of PID (threadsnap.PID.*.txt) and
 * returns the lowest seq found (text in buf), or -1 on timeout. Used where
 * the seq itself is checked separately, so that one wrong number does not
 * hide every later check. */
#include <dirent.h>
REL_UNUSED static int rel_wait_any_dump(pid_t pid, char* buf, size_t cap, long ms) {
  const char* dir = getenv("THREADSNAP_DIR");
  if (!dir || !*dir) dir = "/tmp";
  char prefix[64];
  int plen = snprintf(prefix, sizeof prefix, "threadsnap.%d.", (int)pid);
  uint64_t deadline = rel_now_ms() + (uint64_t)ms;
  for (;;) {
    int best = -1;
    DIR* d = opendir(dir);
    if (d) {
      struct dirent* e;
      while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, prefix, (size_t)plen) != 0 || n < 5 ||
            strcmp(e->d_name + n - 4, ".txt") != 0)
          continue;
        int seq = atoi(e->d_name + plen);
        if (seq > 0 && (best < 0 || seq < best)) best = seq;
      }
      closedir(d);
    }
    if (best > 0) {
      char path[1200];
      rel_dump_path(path, sizeof path, pid, best);
      if (rel_read_file(path, buf, cap) >= 0) return best;
    }
    if (rel_now_ms() > deadline) return -1;
    rel_sleep_ms(2);
  }
}

/* Checks a dump's text: "threadsnap 1" first, "end" last, the "threads N"
 * header equal to the number of thread records. Returns NULL or why not. */
REL_UNUSED static const char* rel_check_dump_text(const char* t, long* nthreads) {
  if (strncmp(t, "threadsnap 1\n", 13) != 0) return "no 'threadsnap 1' first line";
  size_t len = strlen(t);
  if (len < 5 || strcmp(t + len - 4, "end\n") != 0 || (len > 4 && t[len - 5] != '\n'))
    return "no 'end' last line";
  const char* h = strstr(t, "\nthreads ");
  if (!h) return "no threads header";
  long n = strtol(h + 9, NULL, 10);
  long records = 0;
  for (const char* p = strstr(t, "\nthread tid="); p; p = strstr(p + 1, "\nthread tid=")) records++;
  if (records != n) return "threads header differs from the number of thread records";
  if (nthreads) *nthreads = n;
  return NULL;
}

/* Reads one command line from stdin (without the newline); 0 at EOF. */
REL_UNUSED static int rel_read_cmd(char* buf, size_t cap) {
  size_t n = 0;
  for (;;) {
    char c;
    ssize_t r = read(0, &c, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return n > 0;
    if (c == '\n') break;
    if (n + 1 < cap) buf[n++] = c;
  }
  buf[n] = 0;
  return 1;
}


/* Changes the thread's signal mask with the raw system call, which the
 * library does not see: with pthread_sigmask it would know that the thread
 * blocks its stop signal and send it none (issue 11, item 3). Tests of the
 * stop timeout need a thread the stop signal reaches and that does not
 * answer. how: SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK; masks as 64-bit words. */
static inline void rel_raw_sigmask(int how, unsigned long long set, unsigned long long* old) {
  syscall(SYS_rt_sigprocmask, how, &set, old, sizeof set);
}

/* threadsnap's stop signal: the real-time signal caught in this process
 * (SigCgt) that the program never set. sigaction() would say SIG_DFL: the
 * library shows the program what it would see without it. 0 if none. */
static inline int rel_stop_signal(void) {
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  unsigned long long cgt = 0;
  while (f && fgets(line, sizeof(line), f))
    if (sscanf(line, "SigCgt: %llx", &cgt) == 1) break;
  if (f) fclose(f);
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
    if ((cgt >> (sig - 1)) & 1) return sig;
  return 0;
}
#endif
