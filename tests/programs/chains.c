/* Known call chains, built with frame pointers so that both unwinders
 * (THREADSNAP_UNWIND=dwarf and =fp) can walk them:
 *   fp_read   thread_main -> chain_a -> chain_b -> chain_c -> do_read   (read on a pipe)
 *   fp_mutex  ... -> do_lock    (pthread_mutex_lock on a mutex main holds)
 *   fp_spin   ... -> do_spin    (CPU-bound, no calls: interrupted by the signal)
 *   deep      thread_main -> recurse x DEPTH -> do_deep_read (read; DEPTH = argv[1], default 300)
 *   main      main -> main_wait -> read(0)
 * Prints tid/expect lines and "ready"; EOF on stdin ends it (exit 0).
 */
// CFLAGS: -fno-omit-frame-pointer
#include "testprog.h"

static int g_pipe[2];
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static volatile unsigned long g_spins;
static volatile int g_stop;
static void* volatile g_frame;
static int g_depth = 300;

NOIPA void do_read(void* a) {
  char c;
  for (;;)
    if (read(g_pipe[0], &c, 1) <= 0 && errno != EINTR) break;
}
NOIPA void do_lock(void* a) {
  pthread_mutex_lock(&g_mu);
  pthread_mutex_unlock(&g_mu);
}
/* GCC 12 gives a leaf function that needs no stack no frame, even with
 * -fno-omit-frame-pointer; asking for the frame address forces one, so a
 * frame-pointer walk from inside the loop finds chain_c. */
NOIPA void do_spin(void* a) {
  g_frame = __builtin_frame_address(0);
  while (!g_stop) g_spins = g_spins + 1;
}
NOIPA void do_deep_read(void) {
  char c;
  for (;;)
    if (read(g_pipe[0], &c, 1) <= 0 && errno != EINTR) break;
}
NOIPA void recurse(int n) {
  if (n > 0)
    recurse(n - 1);
  else
    do_deep_read();
  TP_TOUCH(1);
}

struct worker {
  const char* name;
  tp_op op;
  pid_t tid;
};
static struct worker g_workers[] = {
  {"fp_read", do_read, 0}, {"fp_mutex", do_lock, 0}, {"fp_spin", do_spin, 0}, {"deep", NULL, 0},
};
#define NWORKERS (sizeof g_workers / sizeof g_workers[0])
static volatile int g_started;

NOIPA void* thread_main(void* arg) {
  struct worker* w = arg;
  pthread_setname_np(pthread_self(), w->name);
  w->tid = tp_gettid();
  __atomic_add_fetch(&g_started, 1, __ATOMIC_SEQ_CST);
  if (w->op)
    chain_a(w->op, NULL);
  else
    recurse(g_depth);
  TP_TOUCH(1);
  return NULL;
}

NOIPA void main_wait(void) {
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {}
  TP_TOUCH(1);
}

int main(int argc, char** argv) {
  if (argc > 1) g_depth = atoi(argv[1]);
  pthread_setname_np(pthread_self(), "chains-main");
  if (pipe(g_pipe)) tp_die("pipe");
  pthread_mutex_lock(&g_mu);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 1024 * 1024);
  for (size_t i = 0; i < NWORKERS; i++) {
    pthread_t t;
    if (pthread_create(&t, &attr, thread_main, &g_workers[i])) tp_die("pthread_create");
  }
  while (__atomic_load_n(&g_started, __ATOMIC_SEQ_CST) < (int)NWORKERS) usleep(1000);
  tp_line("tid fp_read %d", g_workers[0].tid);
  tp_line("expect fp_read %d blocked read 0x%x ^do_read," TP_CHAIN, g_workers[0].tid, g_pipe[0]);
  tp_line("tid fp_mutex %d", g_workers[1].tid);
  tp_line("expect fp_mutex %d blocked pthread_mutex_lock 0x%lx ^do_lock," TP_CHAIN,
          g_workers[1].tid, (unsigned long)&g_mu);
  tp_line("tid fp_spin %d", g_workers[2].tid);
  tp_line("expect fp_spin %d running - - ^do_spin," TP_CHAIN, g_workers[2].tid);
  tp_line("tid deep %d", g_workers[3].tid);
  tp_line("expect deep %d blocked read 0x%x ^do_deep_read,recurse,recurse,recurse,recurse",
          g_workers[3].tid, g_pipe[0]);
  tp_line("tid chains-main %d", (int)tp_gettid());
  tp_line("expect chains-main %d blocked read 0x0 ^main_wait,main", (int)tp_gettid());
  tp_line("ready");
  main_wait();
  tp_line("bye");
  return 0;
}
