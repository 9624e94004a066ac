/* k1b. main() is dumped, then blocks in pause() until another thread
 * cancels it; that thread then returns. The process must exit (status 0)
 * when the last thread ends, as it does plainly. A cancelled main thread
 * never passes through the pthread_exit wrapper, so its record stayed
 * registered: the dumper waited for it for ever, and with the main thread a
 * zombie and the dumper blocking every signal, SIGTERM stayed pending too
 * (found by review; the runner's timeout makes that a failure). */
// NOSANITIZE
#include "hostile.h"

static pthread_t g_main;

static void* canceller(void* arg) {
  (void)arg;
  pthread_cancel(g_main);
  pthread_join(g_main, NULL);  // main has ended, cancelled
  h_out("canceller: main was cancelled; returning");
  h_finish();
  return NULL;
}

int main(void) {
  h_dump();
  g_main = pthread_self();
  h_out("main: waiting in pause() until cancelled");
  pthread_t c;
  pthread_create(&c, NULL, canceller, NULL);
  for (;;) pause();
}
