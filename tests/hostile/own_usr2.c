/* h. The program installs its own SIGUSR2 handler (with sigaction, then with
 * signal) and raises SIGUSR2: its handler runs, and the library prints
 * nothing on the program's stderr (its messages go to its log). Today it
 * prints "threadsnap: the program installed its own handler ...". */
// NOSANITIZE
#include "hostile.h"

static atomic_int g_calls;
static void on_usr2(int sig) { (void)sig; atomic_fetch_add(&g_calls, 1); }

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr2;
  sigaction(SIGUSR2, &sa, NULL);
  raise(SIGUSR2);
  signal(SIGUSR2, on_usr2);
  raise(SIGUSR2);
  h_out("own SIGUSR2 handler ran %d times", atomic_load(&g_calls));
  h_dump();  // the trigger call still works
  h_finish();
  return 0;
}
