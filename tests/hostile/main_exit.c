/* k1. main() is dumped, then ends with pthread_exit while a worker goes on
 * and finishes later: the process must exit (status 0) when the worker
 * returns. Today the dumper thread lives on and the process never exits
 * (the runner's timeout makes that a failure). */
// NOSANITIZE
#include "hostile.h"

static pthread_t g_main;

static void* worker(void* arg) {
  (void)arg;
  pthread_join(g_main, NULL);  // main has ended
  h_out("worker: main has ended; worker returns");
  h_finish();
  return NULL;
}

int main(void) {
  h_dump();
  g_main = pthread_self();
  pthread_t w;
  pthread_create(&w, NULL, worker, NULL);
  h_out("main: pthread_exit");
  pthread_exit(NULL);
}
