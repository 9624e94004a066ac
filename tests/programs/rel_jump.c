/* rel_jump: leaving a blocked wrapped call from a signal handler.
 *
 *   rel_jump longjmp   thread "jumper" blocks in read() on a pipe; on "jump"
 *                      main sends it SIGUSR1, whose handler siglongjmps out
 *                      of the read; the thread prints "jumped" and blocks in
 *                      pthread_mutex_lock on a mutex main holds.
 *   rel_jump builtin   the same with __builtin_setjmp/__builtin_longjmp, a
 *                      jump no library function sees.
 *   rel_jump fork      main blocks in read() on stdin; on SIGUSR1 (sent by
 *                      the test) its handler forks; the child never returns
 *                      from the handler: it prints "child PID" and blocks in
 *                      nanosleep. On "quit" the parent kills the child.
 * Prints the tid lines and "ready". Commands: "jump", "quit". */
#include "rel_util.h"

#include <setjmp.h>
#include <stdatomic.h>
#include <sys/wait.h>

static pthread_mutex_t g_m = PTHREAD_MUTEX_INITIALIZER;
static int g_pipe[2];
static sigjmp_buf g_env;
static void* g_builtin_env[5];
static int g_builtin;
static atomic_int g_registered;
static volatile pid_t g_child;

static void on_usr1_jump(int sig) {
  if (g_builtin) __builtin_longjmp(g_builtin_env, 1);
  siglongjmp(g_env, 1);
}

static void on_usr1_fork(int sig) {
  pid_t c = fork();
  if (c != 0) {
    g_child = c;
    return;
  }
  /* The child stays inside the handler, as a server's worker would. */
  rel_line("child %d", (int)getpid());
  for (;;) {
    struct timespec ts = {3600, 0};
    nanosleep(&ts, NULL);
  }
}

REL_NOIPA static void blocked_read(void) {
  char c;
  read(g_pipe[0], &c, 1);
}

REL_NOIPA static void after_jump(void) {
  rel_line("jumped");
  pthread_mutex_lock(&g_m);  /* main holds it: blocks here */
  pthread_mutex_unlock(&g_m);
}

static void* jumper_main(void* arg) {
  rel_register("jumper");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1_jump;
  sa.sa_flags = SA_NODEFER;
  sigaction(SIGUSR1, &sa, NULL);
  if (g_builtin) {
    if (__builtin_setjmp(g_builtin_env) == 0) {
      atomic_store(&g_registered, 1);
      blocked_read();
      return arg;
    }
  } else if (sigsetjmp(g_env, 1) == 0) {
    atomic_store(&g_registered, 1);
    blocked_read();
    return arg;
  }
  after_jump();
  return arg;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "longjmp";
  rel_register("main");
  if (pipe(g_pipe) != 0) rel_die("pipe");
  char cmd[64];
  if (strcmp(mode, "fork") == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1_fork;
    sigaction(SIGUSR1, &sa, NULL);
    rel_line("ready");
    while (rel_read_cmd(cmd, sizeof cmd))
      if (strcmp(cmd, "quit") == 0) break;
    if (g_child > 0) {
      kill(g_child, SIGKILL);
      waitpid(g_child, NULL, 0);
    }
    return 0;
  }
  g_builtin = strcmp(mode, "builtin") == 0;
  pthread_mutex_lock(&g_m);
  pthread_t t;
  if (pthread_create(&t, NULL, jumper_main, NULL) != 0) rel_die("pthread_create");
  while (!atomic_load(&g_registered)) rel_sleep_ms(1);
  rel_line("ready");
  while (rel_read_cmd(cmd, sizeof cmd)) {
    if (strcmp(cmd, "jump") == 0) pthread_kill(t, SIGUSR1);
    else if (strcmp(cmd, "quit") == 0) break;
  }
  pthread_mutex_unlock(&g_m);
  pthread_join(t, NULL);
  return 0;
}
