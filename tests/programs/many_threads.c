/* N threads (argv[1], default 10000) with 64 KiB stacks, each blocked in
 * read() on one shared pipe, plus the main thread blocked in read(0).
 * Prints "tid w<i> TID" for every worker, "tid many-main TID" and "ready".
 * EOF on stdin ends it. */
#include "testprog.h"

#include <semaphore.h>

static int g_pipe[2];
static pid_t* g_tids;
static sem_t g_started;

NOIPA void do_read(void* a) {
  char c;
  for (;;)
    if (read(g_pipe[0], &c, 1) <= 0 && errno != EINTR) break;
}

NOIPA void* thread_main(void* arg) {
  long i = (long)arg;
  char name[16];
  snprintf(name, sizeof name, "w%ld", i);
  pthread_setname_np(pthread_self(), name);
  g_tids[i] = tp_gettid();
  sem_post(&g_started);
  chain_a(do_read, NULL);
  TP_TOUCH(1);
  return NULL;
}

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 10000;
  pthread_setname_np(pthread_self(), "many-main");
  if (pipe(g_pipe)) tp_die("pipe");
  g_tids = calloc((size_t)n, sizeof *g_tids);
  sem_init(&g_started, 0, 0);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  for (long i = 0; i < n; i++) {
    pthread_t t;
    int r = pthread_create(&t, &attr, thread_main, (void*)i);
    if (r) {
      tp_line("fatal pthread_create %ld: %d", i, r);
      return 3;
    }
    pthread_detach(t);
  }
  for (long i = 0; i < n; i++) sem_wait(&g_started);
  /* Print in big chunks: 10,000 lines one write each would be slow. */
  size_t cap = (size_t)n * 32 + 64, len = 0;
  char* buf = malloc(cap);
  for (long i = 0; i < n; i++) len += (size_t)snprintf(buf + len, cap - len, "tid w%ld %d\n", i, (int)g_tids[i]);
  for (size_t off = 0; off < len;) {
    ssize_t w = write(1, buf + off, len - off);
    if (w <= 0) return 3;
    off += (size_t)w;
  }
  free(buf);
  tp_line("tid many-main %d", (int)tp_gettid());
  tp_line("ready");
  char c[64];
  while (read(0, c, sizeof c) > 0) {}
  tp_line("bye");
  return 0;
}
