/* c. Resets every real-time signal (SIGRTMIN..SIGRTMAX) to SIG_DFL, runs two
 * spinning threads and is dumped twice: it must live on. Today the
 * next dump sends the stop signal, whose default action kills ("Real-time
 * signal 4"). */
// NOSANITIZE
#include "hostile.h"

int main(void) {
  int n = 0;
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    if (sigaction(sig, &sa, NULL) == 0) n++;
  }
  h_out("reset %d real-time signals to SIG_DFL", n);
  h_spin_start(2);
  for (int i = 0; i < 2; i++) h_dump();
  h_spin_stop();
  h_out("alive after the dumps");
  h_finish();
  return 0;
}
