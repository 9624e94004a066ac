/* e1. A thread that blocks every signal and collects its signals with
 * sigwaitinfo (as a program's signal-handling thread does): it must receive
 * only what the program sent. It runs (not in a wrapped call) while the
 * program is dumped, with a spinning thread, then takes what is pending
 * (sigtimedwait with a zero timeout, printing each: nothing, plainly), then
 * waits in sigwaitinfo(every signal) until main sends it SIGUSR1. Today the
 * stop signal stays pending in it and it gets 38 (or whichever real-time
 * signal threadsnap stops with). */
// NOSANITIZE
#include "hostile.h"

static atomic_int g_phase;  // 0 running, 1 blocked, 2 dumps done, 3 waiting

static void* waiter(void* arg) {
  (void)arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  atomic_store(&g_phase, 1);
  volatile unsigned long x = 0;
  while (atomic_load(&g_phase) < 2) x++;  // running during the dumps
  // What is pending now was sent by no one in this program.
  static const struct timespec zero = {0, 0};
  int stray = 0;
  for (;;) {
    siginfo_t si;
    int sig = sigtimedwait(&all, &si, &zero);
    if (sig < 0 && errno == EINTR) continue;
    if (sig < 0) break;
    h_out("waiter got signal %d that nobody in the program sent", sig);
    stray++;
  }
  if (!stray) h_out("waiter: no stray signal");
  atomic_store(&g_phase, 3);
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) {
      if (errno == EINTR) continue;
      h_out("sigwaitinfo failed errno=%d", errno);
      return NULL;
    }
    h_out("waiter got signal %d", sig);
    if (sig == SIGUSR1) break;
  }
  sigset_t pend;
  sigpending(&pend);
  int any = 0;
  for (int sig = 1; sig <= SIGRTMAX; sig++)
    if (sigismember(&pend, sig) == 1) { h_out("still pending in the waiter: %d", sig); any = 1; }
  if (!any) h_out("nothing pending in the waiter");
  return NULL;
}

int main(void) {
  pthread_t w;
  pthread_create(&w, NULL, waiter, NULL);
  while (atomic_load(&g_phase) < 1) sched_yield();
  h_spin_start(1);
  h_dump();
  h_dump();
  h_spin_stop();
  atomic_store(&g_phase, 2);
  while (atomic_load(&g_phase) < 3) sched_yield();
  pthread_kill(w, SIGUSR1);
  pthread_join(w, NULL);
  h_finish();
  return 0;
}
