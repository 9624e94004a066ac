/* Kept frames: a blocked thread still in the very call of the previous dump
 * keeps the frames unwound then (coordinator.cpp, same_call_as_slot). Here a
 * thread "mover" blocks in read() on a pipe under K calls of descend_a() or
 * of its twin descend_b() (the same code, so the same frame sizes: at the
 * same depth its saved registers can be equal). Each two-byte command on
 * stdin ("aK" or "bK", K a digit) makes it return from that read, climb out
 * and block again under K calls of descend_a or descend_b; before each read
 * it prints "blocking a|b K N" (N counts the blocks). It starts with "a3".
 * Eight "idle" threads block in read() for ever under chain_idle().
 * Prints "tid mover TID", "tid idleI TID", then "ready" once all have. */
#include "testprog.h"

#include <sched.h>
#include <stdatomic.h>

static atomic_int g_registered;

static int g_cmd[2], g_never[2];
static char g_kind = 'a';
static int g_depth = 3;

NOIPA void wait_here(void) {
  char cmd[2];
  ssize_t n;
  do n = read(g_cmd[0], cmd, sizeof cmd);
  while (n < 0 && errno == EINTR);
  if (n != 2) _exit(0);  /* stdin closed: the end */
  g_kind = cmd[0];
  g_depth = cmd[1] - '0';
  TP_TOUCH(1);
}

NOIPA void descend_a(int k) {
  if (k > 0) descend_a(k - 1);
  else wait_here();
  TP_TOUCH(1);
}

NOIPA void descend_b(int k) {
  if (k > 0) descend_b(k - 1);
  else wait_here();
  TP_TOUCH(1);
}

NOIPA void* mover_main(void* arg) {
  (void)arg;
  tp_register("mover");
  atomic_fetch_add(&g_registered, 1);
  for (long n = 1;; n++) {
    tp_line("blocking %c %d %ld", g_kind, g_depth, n);
    if (g_kind == 'b') descend_b(g_depth);
    else descend_a(g_depth);
    TP_TOUCH(1);
  }
  return NULL;
}

NOIPA void chain_idle(void) {
  char c;
  while (read(g_never[0], &c, 1) < 0 && errno == EINTR) {}
  TP_TOUCH(1);
}

NOIPA void* idle_main(void* arg) {
  char name[16];
  snprintf(name, sizeof name, "idle%ld", (long)arg);
  tp_register(name);
  atomic_fetch_add(&g_registered, 1);
  chain_idle();
  TP_TOUCH(1);
  return NULL;
}

int main(void) {
  if (pipe(g_cmd) || pipe(g_never)) tp_die("pipe");
  tp_register("rb-main");
  pthread_t t;
  for (long i = 0; i < 8; i++)
    if (pthread_create(&t, NULL, idle_main, (void*)i)) tp_die("pthread_create");
  if (pthread_create(&t, NULL, mover_main, NULL)) tp_die("pthread_create");
  while (atomic_load(&g_registered) < 9) sched_yield();
  tp_line("ready");
  char buf[64];
  ssize_t r;
  while ((r = read(0, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
    if (r > 0 && write(g_cmd[1], buf, (size_t)r) != r) tp_die("write");
  return 0;
}
