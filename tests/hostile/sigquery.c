/* f. The save/restore idiom: a program asks for the current disposition
 * before it installs its own, and later puts the old one back. With nothing
 * installed, sigaction(SIGUSR2, NULL, &old) must read SIG_DFL, and so must
 * every real-time signal (the one threadsnap stops with included), before
 * and after a dump; signal() must return SIG_DFL as the previous handler.
 * Today the queries return threadsnap's handlers. */
// NOSANITIZE
#include "hostile.h"

static void dummy(int sig) { (void)sig; }

static const char* disp(const struct sigaction* sa) {
  if (sa->sa_flags & SA_SIGINFO) return "a handler (SA_SIGINFO)";
  if (sa->sa_handler == SIG_DFL) return "SIG_DFL";
  if (sa->sa_handler == SIG_IGN) return "SIG_IGN";
  return "a handler";
}

static void query(const char* when) {
  struct sigaction old;
  sigaction(SIGUSR2, NULL, &old);
  h_out("%s: SIGUSR2 is %s", when, disp(&old));
  int others = 0;
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++) {
    sigaction(sig, NULL, &old);
    if (old.sa_flags & SA_SIGINFO || old.sa_handler != SIG_DFL) {
      h_out("%s: real-time signal %d is %s", when, sig, disp(&old));
      others++;
    }
  }
  if (!others) h_out("%s: every real-time signal is SIG_DFL", when);
  sigset_t cur;
  pthread_sigmask(SIG_BLOCK, NULL, &cur);
  for (int sig = 1; sig <= SIGRTMAX; sig++)
    if (sigismember(&cur, sig) == 1) h_out("%s: signal %d blocked", when, sig);
}

int main(void) {
  query("at start");
  h_dump();
  query("after a dump");
  sighandler_t prev = signal(SIGUSR2, dummy);
  h_out("signal(SIGUSR2, h) returned %s", prev == SIG_DFL ? "SIG_DFL" : prev == SIG_IGN ? "SIG_IGN" : "a handler");
  signal(SIGUSR2, prev);  // restore what was there
  query("after save/restore");
  h_finish();
  return 0;
}
