/* Threads to wake, end or create while a dump's sweep is in progress
 * (THREADSNAP_TEST_SWEEP_DELAY_MS holds the sweep open):
 *   w0..w3  each blocked in read() on its own pipe (chain ^do_wait_read);
 *           on a byte they print "woke wI n=N data=C errno=E" and read again
 *   e0..e3  each blocked in read() on its own pipe (chain ^do_exit_read);
 *           on a byte they return and the thread exits
 *   main    blocked in read(0) (chain ^main_wait); commands, one byte each:
 *     'w'  write byte 'A'+I to wI's pipe
 *     'x'  write to every eI's pipe, join them, print "joined eI" each
 *     's'  create n0..n3 (each prints "tid nI TID" and blocks in read), then
 *          print "spawned"
 *     '?'  print "alive"
 * Prints tid/expect lines for w*, e* and main, then "ready". */
#include "testprog.h"

#include <semaphore.h>

#define NW 4

struct th {
  char name[16];
  int fds[2];
  pid_t tid;
  pthread_t t;
};
static struct th g_w[NW], g_e[NW], g_n[NW];
static sem_t g_started;
static int g_block_pipe[2];

NOIPA void do_wait_read(void* a) {
  struct th* t = a;
  for (;;) {
    char c = '?';
    errno = 0;
    ssize_t r = read(t->fds[0], &c, 1);
    tp_line("woke %s n=%ld data=%c errno=%d", t->name, (long)r, r > 0 ? c : '-', errno);
  }
}
NOIPA void do_exit_read(void* a) {
  struct th* t = a;
  char c;
  ssize_t r = read(t->fds[0], &c, 1);
  TP_TOUCH(r);
}
NOIPA void do_new_block(void* a) {
  char c;
  for (;;)
    if (read(g_block_pipe[0], &c, 1) <= 0 && errno != EINTR) break;
}

struct start {
  struct th* t;
  tp_op op;
};

NOIPA void* thread_main(void* arg) {
  struct start* s = arg;
  struct th* t = s->t;
  tp_op op = s->op;
  free(s);
  pthread_setname_np(pthread_self(), t->name);
  t->tid = tp_gettid();
  if (op == do_new_block) tp_line("tid %s %d", t->name, (int)t->tid);
  sem_post(&g_started);
  chain_a(op, t);
  TP_TOUCH(1);
  return NULL;
}

static void start(struct th* t, const char* prefix, int i, tp_op op) {
  snprintf(t->name, sizeof t->name, "%s%d", prefix, i);
  if (pipe(t->fds)) tp_die("pipe");
  struct start* s = malloc(sizeof *s);
  s->t = t;
  s->op = op;
  if (pthread_create(&t->t, NULL, thread_main, s)) tp_die("pthread_create");
}

NOIPA void main_wait(void) {
  char buf[256];
  ssize_t r;
  while ((r = read(0, buf, sizeof buf)) != 0) {
    if (r < 0) continue;
    for (ssize_t k = 0; k < r; k++) {
      switch (buf[k]) {
        case 'w':
          for (int i = 0; i < NW; i++) {
            char c = (char)('A' + i);
            if (write(g_w[i].fds[1], &c, 1) != 1) tp_die("write");
          }
          break;
        case 'x':
          for (int i = 0; i < NW; i++)
            if (write(g_e[i].fds[1], "q", 1) != 1) tp_die("write");
          for (int i = 0; i < NW; i++) {
            pthread_join(g_e[i].t, NULL);
            tp_line("joined %s", g_e[i].name);
          }
          break;
        case 's':
          for (int i = 0; i < NW; i++) start(&g_n[i], "n", i, do_new_block);
          for (int i = 0; i < NW; i++) sem_wait(&g_started);
          tp_line("spawned");
          break;
        case '?':
          tp_line("alive");
          break;
      }
    }
  }
  TP_TOUCH(1);
}

int main(void) {
  pthread_setname_np(pthread_self(), "sweep-main");
  sem_init(&g_started, 0, 0);
  if (pipe(g_block_pipe)) tp_die("pipe");
  for (int i = 0; i < NW; i++) start(&g_w[i], "w", i, do_wait_read);
  for (int i = 0; i < NW; i++) start(&g_e[i], "e", i, do_exit_read);
  for (int i = 0; i < 2 * NW; i++) sem_wait(&g_started);
  for (int i = 0; i < NW; i++) {
    tp_line("tid %s %d", g_w[i].name, (int)g_w[i].tid);
    tp_line("expect %s %d blocked read 0x%x ^do_wait_read," TP_CHAIN, g_w[i].name,
            (int)g_w[i].tid, g_w[i].fds[0]);
    tp_line("tid %s %d", g_e[i].name, (int)g_e[i].tid);
    tp_line("expect %s %d blocked read 0x%x ^do_exit_read," TP_CHAIN, g_e[i].name,
            (int)g_e[i].tid, g_e[i].fds[0]);
  }
  tp_line("tid sweep-main %d", (int)tp_gettid());
  tp_line("expect sweep-main %d blocked read 0x0 ^main_wait,main", (int)tp_gettid());
  tp_line("ready");
  main_wait();
  return 0;
}
