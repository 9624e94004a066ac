/* l. main() is dumped, then ends with pthread_exit; the one worker waits in
 * pause(). A process-directed SIGTERM (the runner's kill -TERM, sent after
 * the line "ready") must end the process. */
// HOSTILE: kill=TERM
// NOSANITIZE
#include "hostile.h"

static pthread_t g_main;

static void* worker(void* arg) {
  (void)arg;
  pthread_join(g_main, NULL);  // main has ended
  h_check_pending("before pause");
  h_report("dumps %d", h_dumps_waited);
  h_out("ready");
  for (;;) pause();
  return NULL;
}

int main(void) {
  h_dump();
  g_main = pthread_self();
  pthread_t w;
  pthread_create(&w, NULL, worker, NULL);
  pthread_exit(NULL);
}
