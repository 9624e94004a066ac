/* Shared helpers of the integration-test programs (C and C++).
 *
 * Protocol with tests/integration/harness.h, one line each on stdout:
 *   tid NAME TID                                   a thread's kernel tid
 *   expect NAME TID STATE CALL OBJ CHAIN           what a dump must show
 *   ready                                          set-up is complete
 * Every line is written with one write(2), so lines of different threads
 * never interleave.
 *
 * The call chains (thread_main -> chain_a -> chain_b -> chain_c -> op) are
 * `noipa` (no inlining, cloning or identical-code folding) and never tail
 * calls (a volatile store follows each call), so they show in every unwind. */
#ifndef THREADSNAP_TESTPROG_H
#define THREADSNAP_TESTPROG_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NOIPA __attribute__((noipa))
#define TP_UNUSED __attribute__((unused))

#ifdef __cplusplus
#define TP_EXTERN_C extern "C"
#else
#define TP_EXTERN_C
#endif

static volatile long g_tp_sink;
/* Keeps a call out of tail position (C++20 deprecates volatile +=). */
#define TP_TOUCH(n) (g_tp_sink = g_tp_sink + (n))

TP_UNUSED static pid_t tp_gettid(void) { return (pid_t)syscall(SYS_gettid); }

/* One line to fd, written with one write(2) where it fits (no stdio: some
 * programs close fds or fork, and buffered output would be lost or
 * duplicated). Not async-signal-safe (vsnprintf). */
TP_UNUSED static void tp_vfdline(int fd, const char* fmt, va_list ap) {
  char buf[4096];
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  int off = 0;
  while (off < n) {
    ssize_t w = write(fd, buf + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += (int)w;
  }
}

/* One stdout line, written at once. Not async-signal-safe (vsnprintf). */
TP_UNUSED static void tp_line(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tp_vfdline(1, fmt, ap);
  va_end(ap);
}

TP_UNUSED static void tp_die(const char* what) {
  tp_line("fatal %s errno=%d", what, errno);
  _exit(3);
}

/* Sets the calling thread's name and prints "tid NAME TID". */
TP_UNUSED static pid_t tp_register(const char* name) {
  pthread_setname_np(pthread_self(), name);
  pid_t tid = tp_gettid();
  tp_line("tid %s %d", name, (int)tid);
  return tid;
}

TP_UNUSED static struct timespec tp_in(clockid_t clk, long ms) {
  struct timespec ts;
  clock_gettime(clk, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

TP_UNUSED static uint64_t tp_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

typedef void (*tp_op)(void* arg);

TP_EXTERN_C NOIPA TP_UNUSED void chain_c(tp_op op, void* arg) {
  op(arg);
  TP_TOUCH(3);
}
TP_EXTERN_C NOIPA TP_UNUSED void chain_b(tp_op op, void* arg) {
  chain_c(op, arg);
  TP_TOUCH(2);
}
TP_EXTERN_C NOIPA TP_UNUSED void chain_a(tp_op op, void* arg) {
  chain_b(op, arg);
  TP_TOUCH(1);
}

/* The chain every worker of these programs runs, innermost first after op. */
#define TP_CHAIN "chain_c,chain_b,chain_a,thread_main"

#endif
