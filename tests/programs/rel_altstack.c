/* rel_altstack: threads running on an 8 KiB alternate signal stack.
 *
 *   rel_altstack
 *
 * Each thread below has an 8 KiB sigaltstack with an inaccessible guard page
 * under it (an overflow faults at once instead of corrupting memory):
 *   alt-handler x3  inside the program's own SIGUSR1 handler (SA_ONSTACK,
 *                   nothing masked), spinning there until "release": they run
 *                   on the alternate stack when threadsnap's stop signal comes
 *   alt-spin x2     spinning in ordinary code (threadsnap's handler, which
 *                   asks for SA_ONSTACK, then runs on the 8 KiB stack)
 *   alt-wait        pthread_cond_wait
 * Prints the tid lines and "ready" once every handler spins. Commands:
 *   ping     -> "pong HANDLER_SPINS SPINS"
 *   release  -> the handlers return; each thread prints "returned TID"
 *   quit */
#include "rel_util.h"

#include <stdatomic.h>
#include <sys/mman.h>

#define ALT_SIZE 8192

static atomic_int g_quit, g_release, g_in_handler, g_parked;
static atomic_long g_handler_spins, g_spins;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;

static void setup_altstack(void) {
  char* p = mmap(NULL, 4096 + ALT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) rel_die("mmap");
  if (mprotect(p, 4096, PROT_NONE) != 0) rel_die("mprotect");
  stack_t ss = {.ss_sp = p + 4096, .ss_size = ALT_SIZE, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) rel_die("sigaltstack");
}

/* Runs on the alternate stack and stays there until released. */
REL_NOIPA static void alt_spin_handler(int sig) {
  (void)sig;
  stack_t cur;
  sigaltstack(NULL, &cur);
  if (!(cur.ss_flags & SS_ONSTACK)) rel_line("FAIL handler not on the alternate stack");
  atomic_fetch_add(&g_in_handler, 1);
  while (!atomic_load(&g_release)) atomic_fetch_add(&g_handler_spins, 1);
}

static void* handler_main(void* arg) {
  setup_altstack();
  rel_register("alt-handler");
  pthread_kill(pthread_self(), SIGUSR1); /* runs the handler now, on this thread */
  rel_line("returned %d", (int)rel_gettid());
  while (!atomic_load(&g_quit)) atomic_fetch_add(&g_spins, 1);
  return arg;
}

static void* spin_main(void* arg) {
  setup_altstack();
  rel_register("alt-spin");
  atomic_fetch_add(&g_parked, 1);
  while (!atomic_load(&g_quit)) atomic_fetch_add(&g_spins, 1);
  return arg;
}

static void* wait_main(void* arg) {
  setup_altstack();
  rel_register("alt-wait");
  pthread_mutex_lock(&g_mu);
  atomic_fetch_add(&g_parked, 1);
  while (!atomic_load(&g_quit)) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
  return arg;
}

int main(void) {
  rel_register("main");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = alt_spin_handler;
  sa.sa_flags = SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGUSR1, &sa, NULL) != 0) rel_die("sigaction");
  void* (*fns[])(void*) = {handler_main, handler_main, handler_main, spin_main, spin_main, wait_main};
  enum { kThreads = sizeof fns / sizeof fns[0] };
  pthread_t t[kThreads];
  for (int i = 0; i < kThreads; i++)
    if (pthread_create(&t[i], NULL, fns[i], NULL) != 0) rel_die("pthread_create");
  while (atomic_load(&g_in_handler) < 3 || atomic_load(&g_parked) < 3) rel_sleep_ms(1);
  rel_line("ready");
  char cmd[64];
  while (rel_read_cmd(cmd, sizeof cmd)) {
    if (strcmp(cmd, "ping") == 0)
      rel_line("pong %ld %ld", atomic_load(&g_handler_spins), atomic_load(&g_spins));
    else if (strcmp(cmd, "release") == 0)
      atomic_store(&g_release, 1);
    else if (strcmp(cmd, "quit") == 0)
      break;
  }
  atomic_store(&g_release, 1);
  atomic_store(&g_quit, 1);
  pthread_mutex_lock(&g_mu);
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  for (int i = 0; i < kThreads; i++) pthread_join(t[i], NULL);
  rel_line("bye");
  return 0;
}
