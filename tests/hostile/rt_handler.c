/* d. Installs its own handler on every real-time signal and counts the
 * calls; two spinning threads; three dumps. Its handler must never run (the
 * program sent nothing), and each dump's stop 1 must stay short (the runner
 * checks stop1_ns). Today the program's handler runs instead of threadsnap's
 * and stop 1 lasts the whole 1 s timeout. */
// HOSTILE: max_stop1_ms=200
// NOSANITIZE
#include "hostile.h"

static atomic_int g_calls;
static void count(int sig) { (void)sig; atomic_fetch_add(&g_calls, 1); }

int main(void) {
  int n = 0;
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count;
    sa.sa_flags = SA_RESTART;
    if (sigaction(sig, &sa, NULL) == 0) n++;
  }
  h_out("own handler on %d real-time signals", n);
  h_spin_start(2);
  for (int i = 0; i < 3; i++) h_dump();
  h_spin_stop();
  h_out("handler calls: %d", atomic_load(&g_calls));
  h_finish();
  return 0;
}
