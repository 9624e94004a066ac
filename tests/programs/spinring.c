/* spinring: N spinning threads (argv[1], default 6: more than the CPUs, so
 * that some wait in a run queue at every stop) pass a token without
 * blocking: the holder spins in hold() for ~HOLD_US (argv[2], default 50),
 * then hands the token on; the others spin in wait_token(). At any instant
 * at most one thread is in hold(), so a consistent snapshot shows at most
 * one thread with hold() on its stack (issue 13: a signalled thread that is
 * off-CPU is frozen at the cut and may capture itself after stop 1).
 * With argv[3] = "mask", each thread blocks every signal while it waits
 * for the token (a program that blocks signals around a section): such a
 * thread is not frozen by a pending signal, and must come out via=timeout
 * or captured consistently, never torn. "rawmask" does the same with the
 * raw rt_sigprocmask system call, which the library does not see (so it
 * does send the stop signal, and must find the mask in SigBlk).
 * Prints "tid sI TID" lines and "ready"; "?" on stdin -> "token N"; EOF ends it. */
#include "testprog.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

static atomic_long g_token;
static atomic_int g_stop, g_started;
static int g_n = 6;
static long g_hold_us = 50;
static int g_mask;

/* The mask changes inside wait_token() and hold(), so that a thread's
 * stack says what it is doing even when it is captured at the unblock: a
 * stack with hold() on it holds the token. */
static sigset_t g_all, g_none;

static void set_mask(int block) {
  if (g_mask == 2) {
    unsigned long long m = block ? ~0ull : 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &m, NULL, sizeof m);
  } else {
    pthread_sigmask(SIG_SETMASK, block ? &g_all : &g_none, NULL);
  }
}

NOIPA void wait_token(long me) {
  if (g_mask) set_mask(1);
  while (atomic_load_explicit(&g_token, memory_order_acquire) % g_n != me &&
         !atomic_load(&g_stop))
    TP_TOUCH(1);
}

NOIPA void hold(void) {
  if (g_mask) set_mask(0);
  uint64_t until = tp_now_ns() + (uint64_t)g_hold_us * 1000;
  while (tp_now_ns() < until) TP_TOUCH(1);
}

NOIPA void* thread_main(void* arg) {
  long me = (long)arg;
  char name[16];
  snprintf(name, sizeof name, "s%ld", me);
  pthread_setname_np(pthread_self(), name);
  tp_line("tid %s %d", name, (int)tp_gettid());
  atomic_fetch_add(&g_started, 1);
  while (!atomic_load(&g_stop)) {
    wait_token(me);
    if (atomic_load(&g_stop)) break;
    hold();
    atomic_fetch_add_explicit(&g_token, 1, memory_order_release);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc > 1) g_n = atoi(argv[1]);
  if (argc > 2) g_hold_us = atol(argv[2]);
  g_mask = argc > 3 && !strcmp(argv[3], "mask") ? 1 : argc > 3 && !strcmp(argv[3], "rawmask") ? 2 : 0;
  if (g_n < 2 || g_n > 64) tp_die("bad thread count");
  sigfillset(&g_all);
  sigemptyset(&g_none);
  pthread_t t[64];
  for (long i = 0; i < g_n; i++)
    if (pthread_create(&t[i], NULL, thread_main, (void*)i)) tp_die("pthread_create");
  while (atomic_load(&g_started) < g_n) sched_yield();
  tp_line("ready");
  char c;
  while (read(0, &c, 1) == 1)
    if (c == '?') tp_line("token %ld", atomic_load(&g_token));
  atomic_store(&g_stop, 1);
  for (int i = 0; i < g_n; i++) pthread_join(t[i], NULL);
  if (g_mask) set_mask(0);
  return 0;
}
