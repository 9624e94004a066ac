/* rel_handler: the program owns the trigger signal (SIGUSR2).
 *
 *   rel_handler after    installs its handler in main (after threadsnap's
 *                        constructor), twice: with sigaction, then signal()
 *   rel_handler before   installs it from .preinit_array, which runs before
 *                        any library constructor, threadsnap's included
 *
 * Prints "installed" and "ready". Commands on stdin:
 *   count     -> "count N" (how often the program's handler ran)
 *   self      -> calls threadsnap_trigger(), prints "triggered RC"
 *   quit
 * A worker thread blocks in pthread_cond_wait so that dumps have something
 * to show. */
#include "rel_util.h"

#include <stdatomic.h>

static atomic_int g_hits;
static atomic_int g_installed_early;

static void program_handler(int sig) {
  (void)sig;
  atomic_fetch_add(&g_hits, 1);
}

static void install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = program_handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGUSR2, &sa, NULL) != 0) rel_die("sigaction");
}

static int g_before;

/* Runs before every shared library's constructor (ld.so runs the
 * executable's DT_PREINIT_ARRAY first). */
static void early(int argc, char** argv, char** envp) {
  (void)envp;
  if (argc >= 2 && strcmp(argv[1], "before") == 0) {
    install();
    atomic_store(&g_installed_early, 1);
  }
}
__attribute__((section(".preinit_array"), used)) static void (*g_early)(int, char**, char**) = early;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_quit, g_parked;

static void* worker(void* arg) {
  rel_register("worker");
  pthread_mutex_lock(&g_mu);
  g_parked = 1;
  pthread_cond_broadcast(&g_cv);
  while (!g_quit) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
  return arg;
}

int main(int argc, char** argv) {
  if (argc < 2 || (strcmp(argv[1], "before") != 0 && strcmp(argv[1], "after") != 0)) {
    fprintf(stderr, "usage: rel_handler before|after\n");
    return 2;
  }
  g_before = strcmp(argv[1], "before") == 0;
  if (g_before && !atomic_load(&g_installed_early)) rel_die("preinit did not run");
  rel_register("main");
  if (!g_before) {
    install();
    /* The same signal taken again, through signal(): still one message. */
    if (signal(SIGUSR2, program_handler) == SIG_ERR) rel_die("signal");
  }
  struct sigaction cur;
  sigaction(SIGUSR2, NULL, &cur);
  rel_line("installed ours=%d", cur.sa_handler == program_handler);
  pthread_t t;
  if (pthread_create(&t, NULL, worker, NULL) != 0) rel_die("pthread_create");
  /* "ready" once the worker has said its tid and waits. */
  pthread_mutex_lock(&g_mu);
  while (!g_parked) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
  rel_line("ready");
  char cmd[128];
  while (rel_read_cmd(cmd, sizeof cmd)) {
    if (strcmp(cmd, "count") == 0) rel_line("count %d", atomic_load(&g_hits));
    else if (strcmp(cmd, "self") == 0) rel_line("triggered %d", rel_trigger());
    else if (strcmp(cmd, "quit") == 0) break;
  }
  pthread_mutex_lock(&g_mu);
  g_quit = 1;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  pthread_join(t, NULL);
  return 0;
}
