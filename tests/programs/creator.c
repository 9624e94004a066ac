/* Creation prefix (after Go's TestGoroutineProfileConcurrency): on "go" on
 * stdin, a creator thread starts threads p0, p1, ... pN-1 (argv[1], default
 * 1500) one at a time, each blocking forever in read() on a pipe; between two
 * creations it spins GAP_US (argv[2], default 200) microseconds. With BATCH
 * (argv[3], default 0: no pause) it stops after every BATCH threads until
 * another line arrives on stdin, so a test can keep creation going for as
 * many dumps as it needs however slow each dump is. Every dump taken
 * meanwhile must list exactly p0..pK-1 for some K: no gap, no duplicate.
 * Prints "tid cr-main TID", "tid creator TID", "ready"; each thread prints
 * "tid pI TID" when it runs; the creator prints "created N" at the end. */
#include "testprog.h"

static int g_pipe[2], g_go[2];
static int g_n = 1500;
static long g_gap_us = 200;
static long g_batch = 0;

NOIPA void do_block(void) {
  char c;
  for (;;)
    if (read(g_pipe[0], &c, 1) <= 0 && errno != EINTR) break;
}

NOIPA void* thread_main(void* arg) {
  char name[16];
  snprintf(name, sizeof name, "p%ld", (long)arg);
  tp_register(name);
  do_block();
  TP_TOUCH(1);
  return NULL;
}

NOIPA void* creator_main(void* arg) {
  tp_register("creator");
  char go;
  if (read(g_go[0], &go, 1) != 1) return NULL;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  for (long i = 0; i < g_n; i++) {
    pthread_t t;
    int r = pthread_create(&t, &attr, thread_main, (void*)i);
    if (r) {
      tp_line("fatal pthread_create %ld: %d", i, r);
      _exit(3);
    }
    uint64_t until = tp_now_ns() + (uint64_t)g_gap_us * 1000;
    while (tp_now_ns() < until) TP_TOUCH(1);
    if (g_batch > 0 && (i + 1) % g_batch == 0 && i + 1 < g_n &&
        read(g_go[0], &go, 1) != 1)
      return NULL;
  }
  tp_line("created %d", g_n);
  char c;
  read(g_pipe[0], &c, 1);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc > 1) g_n = atoi(argv[1]);
  if (argc > 2) g_gap_us = atol(argv[2]);
  if (argc > 3) g_batch = atol(argv[3]);
  if (pipe(g_pipe) || pipe(g_go)) tp_die("pipe");
  tp_register("cr-main");
  pthread_t c;
  pthread_create(&c, NULL, creator_main, NULL);
  tp_line("ready");  /* the test also waits for "tid creator" before "go" */
  /* Each line on stdin ("go", then "more" per batch) releases the creator
   * once. */
  char buf[64];
  ssize_t r;
  while ((r = read(0, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
    for (ssize_t i = 0; i < r; i++)
      if (buf[i] == '\n' && write(g_go[1], "g", 1) != 1) tp_die("write");
  return 0;
}
