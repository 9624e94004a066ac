/* rel_fork: processes made while threadsnap dumps (reliability, issue 6).
 *
 *   rel_fork fork N        N forks (from two threads) while dumps run back to
 *                          back and other threads create and exit threads (so
 *                          the registry lock is often held). Each child checks
 *                          that it runs, that its own dump shows only its one
 *                          thread, then two after it creates one, and exits 0.
 *   rel_fork spawn N       N rounds of vfork (+ a wrapped write in the child),
 *                          vfork+exec, posix_spawn, system and popen while
 *                          dumps run: every child's status and output are right.
 *   rel_fork exec keep|clear
 *                          a running thread execs this program ("target")
 *                          while dumps run back to back (requested without
 *                          pause); with `clear` LD_PRELOAD is removed first. The target prints
 *                          "target pid=P lib=0|1", "ready", and serves stdin.
 *
 * Background in fork/spawn/exec: 3 threads blocked in pthread_cond_wait, one
 * spinning, two churning threads (pthread_create + join in a loop), and a
 * dumper loop that calls threadsnap_trigger(), waits for the dump, checks
 * that it is whole and deletes it. Use THREADSNAP_TEST_SWEEP_DELAY_MS to keep
 * a dump in progress most of the time.
 *
 * Prints "ok ..." at the end or "FAIL ..." lines; exit status 0 only if all
 * checks passed. */
#include "rel_util.h"

#include <poll.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/wait.h>

extern char** environ;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static atomic_int g_stop;
static atomic_long g_spins, g_churned, g_parent_dumps;
static atomic_int g_failures;
static const char* g_self;

#define FAIL(...)                        \
  do {                                   \
    rel_line("FAIL " __VA_ARGS__);       \
    atomic_fetch_add(&g_failures, 1);    \
  } while (0)

/* ---- background ------------------------------------------------------------ */

static void* blocked_main(void* arg) {
  rel_register("blocked");
  pthread_mutex_lock(&g_mu);
  while (!atomic_load(&g_stop)) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
  return arg;
}

static void* spinner_main(void* arg) {
  rel_register("spinner");
  while (!atomic_load(&g_stop)) atomic_fetch_add(&g_spins, 1);
  return arg;
}

static void* churn_child(void* arg) { return arg; }

static void* churn_main(void* arg) {
  rel_register("churn");
  while (!atomic_load(&g_stop)) {
    pthread_t t;
    if (pthread_create(&t, NULL, churn_child, NULL) == 0) {
      pthread_join(t, NULL);
      atomic_fetch_add(&g_churned, 1);
    }
  }
  return arg;
}

/* Dumps back to back in the parent, checking each one and deleting it. */
static void* dumper_main(void* arg) {
  rel_register("dumploop");
  static char buf[1 << 20];
  pid_t pid = getpid();
  for (int seq = 1; !atomic_load(&g_stop); seq++) {
    if (rel_trigger() != 0) return arg;
    long n = rel_wait_dump(pid, seq, buf, sizeof buf, 20000);
    if (getpid() != pid) return arg; /* never in a child: threads do not fork */
    if (n < 0) {
      FAIL("parent dump %d did not appear", seq);
      return arg;
    }
    const char* why = rel_check_dump_text(buf, NULL);
    if (why) FAIL("parent dump %d: %s", seq, why);
    /* No thread of this program blocks signals: a timeout is the library's. */
    const char* to = strstr(buf, "via=timeout");
    if (to) {
      const char* line = to;
      while (line > buf && line[-1] != '\n') line--;
      FAIL("parent dump %d has a timed-out thread: %.*s", seq, (int)(to - line + 11), line);
    }
    char path[1200];
    rel_dump_path(path, sizeof path, pid, seq);
    unlink(path);
    atomic_fetch_add(&g_parent_dumps, 1);
  }
  return arg;
}

static pthread_t g_bg[8];
static int g_nbg;

static void start_background(int with_dumps) {
  void* (*fns[])(void*) = {blocked_main, blocked_main, blocked_main, spinner_main,
                           churn_main,   churn_main,   dumper_main};
  int n = (int)(sizeof fns / sizeof fns[0]) - (with_dumps ? 0 : 1);
  /* REL_NO_CHURN=1 (debugging only) leaves the churn threads out. */
  const char* nochurn = getenv("REL_NO_CHURN");
  for (int i = 0; i < n; i++)
    if (nochurn && *nochurn == '1' && fns[i] == churn_main) continue;
    else if (pthread_create(&g_bg[g_nbg++], NULL, fns[i], NULL) != 0) rel_die("pthread_create");
}

static void stop_background(void) {
  atomic_store(&g_stop, 1);
  pthread_mutex_lock(&g_mu);
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  for (int i = 0; i < g_nbg; i++) pthread_join(g_bg[i], NULL);
}

/* Waits for child `pid` up to `ms`; kills it on timeout. Returns the wait
 * status, or -1 if it hung. */
static int wait_child(pid_t pid, long ms) {
  uint64_t deadline = rel_now_ms() + (uint64_t)ms;
  for (;;) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) return st;
    if (r < 0 && errno != EINTR) return -2;
    if (rel_now_ms() > deadline) {
      /* Where it hangs, for the failure message: each thread's kernel wait
       * and user stack (eu-stack, where installed). */
      char cmd[512];
      snprintf(cmd, sizeof cmd,
               "for t in /proc/%d/task/*; do echo \"FAIL   task ${t##*/} $(cat $t/comm)"
               " wchan=$(cat $t/wchan) syscall=$(cut -d' ' -f1 $t/syscall)\"; done;"
               " eu-stack -p %d 2>&1 | head -n 60 | sed 's/^/FAIL   /'",
               (int)pid, (int)pid);
      if (system(cmd) != 0) rel_line("FAIL   (no stack)");
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return -1;
    }
    rel_sleep_ms(1);
  }
}

/* ---- fork ------------------------------------------------------------------- */

static void* child_blocker(void* arg) {
  int* fds = arg;
  char c;
  while (read(fds[0], &c, 1) < 0 && errno == EINTR) {
  }
  return NULL;
}

/* In the child: only this thread exists. Exit codes: 0 ok, 10+ a failed check. */
static void child_main(int index) {
  static char buf[1 << 20];
  pid_t me = getpid();
  char path[1200];
  if (rel_trigger() != 0) {
    rel_line("FAIL child %d: no threadsnap_trigger", index);
    _exit(10);
  }
  int seq = rel_wait_any_dump(me, buf, sizeof buf, 15000);
  if (seq < 0) {
    rel_line("FAIL child %d (pid %d): its own dump never appeared", index, (int)me);
    _exit(11);
  }
  if (seq != 1) rel_line("FAIL child %d (pid %d): its first dump has seq %d, not 1", index, (int)me, seq);
  int bad_seq = seq != 1;
  long threads = 0;
  const char* why = rel_check_dump_text(buf, &threads);
  char want[64];
  snprintf(want, sizeof want, "\nthread tid=%d ", (int)me);
  if (why || threads != 1 || !strstr(buf, want)) {
    rel_line("FAIL child %d (pid %d): first dump: %s, threads=%ld, own tid %s", index, (int)me,
             why ? why : "whole", threads, strstr(buf, want) ? "listed" : "missing");
    _exit(12);
  }
  rel_dump_path(path, sizeof path, me, seq);
  unlink(path);
  /* A thread created in the child is registered and dumped too. */
  int fds[2];
  if (pipe(fds) != 0) _exit(13);
  pthread_t t;
  if (pthread_create(&t, NULL, child_blocker, fds) != 0) {
    rel_line("FAIL child %d: pthread_create", index);
    _exit(14);
  }
  rel_trigger();
  int seq2 = rel_wait_any_dump(me, buf, sizeof buf, 15000);
  why = seq2 < 0 ? "never appeared" : rel_check_dump_text(buf, &threads);
  if (why || threads != 2 || !strstr(buf, want)) {
    rel_line("FAIL child %d (pid %d): second dump: %s, threads=%ld (want 2)", index, (int)me,
             why ? why : "whole", threads);
    _exit(15);
  }
  rel_dump_path(path, sizeof path, me, seq2);
  unlink(path);
  if (write(fds[1], "x", 1) != 1) _exit(16);
  pthread_join(t, NULL);
  _exit(bad_seq ? 17 : 0);
}

static atomic_int g_next_fork;
static int g_forks;

static void* forker_main(void* arg) {
  for (;;) {
    int i = atomic_fetch_add(&g_next_fork, 1);
    if (i >= g_forks) break;
    pid_t pid = fork();
    if (pid < 0) {
      FAIL("fork %d: errno %d", i, errno);
      continue;
    }
    if (pid == 0) child_main(i);
    int st = wait_child(pid, 30000);
    if (st == -1) FAIL("fork child %d (pid %d) hung (killed after 30 s)", i, (int)pid);
    else if (st < 0) FAIL("fork child %d: waitpid failed", i);
    else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
      FAIL("fork child %d (pid %d) ended with status 0x%x", i, (int)pid, st);
  }
  return arg;
}

static int run_fork(int n) {
  g_forks = n;
  start_background(1);
  rel_line("ready");
  pthread_t second;
  if (pthread_create(&second, NULL, forker_main, NULL) != 0) rel_die("pthread_create");
  forker_main(NULL);
  pthread_join(second, NULL);
  stop_background();
  rel_line("%s fork forks=%d parent_dumps=%ld churned=%ld failures=%d",
           atomic_load(&g_failures) ? "FAIL" : "ok", n, atomic_load(&g_parent_dumps),
           atomic_load(&g_churned), atomic_load(&g_failures));
  return atomic_load(&g_failures) ? 1 : 0;
}

/* ---- vfork, posix_spawn, system, popen --------------------------------------- */

static int run_spawn(int rounds) {
  start_background(1);
  rel_line("ready");
  uint64_t worst = 0;
  const char* worst_kind = "-";
  for (int i = 0; i < rounds; i++) {
    uint64_t t0 = rel_now_ms();
    /* vfork; the child makes a wrapped call (write) before _exit. */
    int fds[2];
    if (pipe(fds) != 0) rel_die("pipe");
    pid_t pid = vfork();
    if (pid == 0) {
      ssize_t w = write(fds[1], "v", 1);
      _exit(w == 1 ? 7 : 8);
    }
    close(fds[1]);
    char c = 0;
    ssize_t r;
    while ((r = read(fds[0], &c, 1)) < 0 && errno == EINTR) {
    }
    close(fds[0]);
    int st = wait_child(pid, 30000);
    if (r != 1 || c != 'v' || st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
      FAIL("vfork round %d: read %zd '%c', status 0x%x", i, r, c, st);
    uint64_t t1 = rel_now_ms();
    if (t1 - t0 > worst) worst = t1 - t0, worst_kind = "vfork";

    /* vfork + exec. */
    pid = vfork();
    if (pid == 0) {
      char* argv[] = {"/bin/sh", "-c", "exit 9", NULL};
      execve("/bin/sh", argv, environ);
      _exit(127);
    }
    st = wait_child(pid, 30000);
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 9)
      FAIL("vfork+exec round %d: status 0x%x", i, st);
    uint64_t t2 = rel_now_ms();
    if (t2 - t1 > worst) worst = t2 - t1, worst_kind = "vfork+exec";

    /* posix_spawn. */
    char* argv[] = {"/bin/sh", "-c", "exit 7", NULL};
    int rc = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ);
    if (rc != 0) {
      FAIL("posix_spawn round %d: %d", i, rc);
    } else {
      st = wait_child(pid, 30000);
      if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
        FAIL("posix_spawn round %d: status 0x%x", i, st);
    }
    uint64_t t3 = rel_now_ms();
    if (t3 - t2 > worst) worst = t3 - t2, worst_kind = "posix_spawn";

    /* system. */
    st = system("exit 5");
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 5)
      FAIL("system round %d: status 0x%x errno %d", i, st, errno);
    uint64_t t4 = rel_now_ms();
    if (t4 - t3 > worst) worst = t4 - t3, worst_kind = "system";

    /* popen. */
    FILE* f = popen("echo hello-$((6*7))", "r");
    if (!f) {
      FAIL("popen round %d: errno %d", i, errno);
    } else {
      char line[64] = {0};
      if (!fgets(line, sizeof line, f)) line[0] = 0;
      st = pclose(f);
      if (strcmp(line, "hello-42\n") != 0 || st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        FAIL("popen round %d: read '%s', status 0x%x", i, line, st);
    }
    uint64_t t5 = rel_now_ms();
    if (t5 - t4 > worst) worst = t5 - t4, worst_kind = "popen";
  }
  stop_background();
  rel_line("%s spawn rounds=%d worst_ms=%llu worst_kind=%s parent_dumps=%ld failures=%d",
           atomic_load(&g_failures) ? "FAIL" : "ok", rounds, (unsigned long long)worst,
           worst_kind, atomic_load(&g_parent_dumps), atomic_load(&g_failures));
  return atomic_load(&g_failures) ? 1 : 0;
}

/* ---- exec ---------------------------------------------------------------------- */

static int g_clear_preload;

/* Requests dumps without pause: the library runs them back to back, so a
 * stop 1 (and its signals to running threads) is almost always under way. */
static void* trigger_storm_main(void* arg) {
  rel_register("storm");
  while (!atomic_load(&g_stop)) rel_trigger();
  return arg;
}

static int g_exec_left;
static const char* g_exec_how;

static void* execer_main(void* arg) {
  rel_register("execer");
  /* Running, not blocked: stop 1 signals this thread too. Exec lands in
   * the middle of the dumps. */
  uint64_t until = rel_now_ms() + 20;
  while (rel_now_ms() < until) {
  }
  int left = g_exec_left - 1;
  if (left == 0 && g_clear_preload) unsetenv("LD_PRELOAD");
  char n[16];
  snprintf(n, sizeof n, "%d", left);
  char* argv[] = {(char*)g_self, "exec", (char*)g_exec_how, n, NULL};
  execve(g_self, argv, environ);
  rel_die("execve");
  return arg;
}

static int run_target(void);

/* N more execs of this program, each from a running thread while dumps run
 * back to back; the last image is the target. */
static int run_exec(const char* how, int left) {
  if (left <= 0) return run_target();
  g_exec_how = how;
  g_exec_left = left;
  g_clear_preload = strcmp(how, "clear") == 0;
  start_background(0);
  pthread_t storm, t;
  if (pthread_create(&storm, NULL, trigger_storm_main, NULL) != 0) rel_die("pthread_create");
  if (pthread_create(&t, NULL, execer_main, NULL) != 0) rel_die("pthread_create");
  pthread_join(t, NULL); /* never returns: the exec replaces us */
  return 4;
}

static atomic_int g_target_registered;

static void* target_blocker(void* arg) {
  rel_register(arg);
  atomic_fetch_add(&g_target_registered, 1);
  pthread_mutex_lock(&g_mu);
  while (!atomic_load(&g_stop)) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
  return NULL;
}

/* The exec'd image: "target ..." first, then its three tid lines, "ready". */
static int run_target(void) {
  static char maps[1 << 16];
  int lib = 0;
  if (rel_read_file("/proc/self/maps", maps, sizeof maps) > 0 && strstr(maps, "libthreadsnap"))
    lib = 1;
  rel_line("target pid=%d lib=%d api=%d", (int)getpid(), lib, rel_library_loaded());
  rel_register("target");
  pthread_t a, b;
  pthread_create(&a, NULL, target_blocker, "tgt-a");
  pthread_create(&b, NULL, target_blocker, "tgt-b");
  while (atomic_load(&g_target_registered) < 2) rel_sleep_ms(1);
  rel_sleep_ms(2); /* both are inside pthread_cond_wait by now */
  rel_line("ready");
  char cmd[128];
  while (rel_read_cmd(cmd, sizeof cmd)) {
    if (strcmp(cmd, "quit") == 0) break;
    if (strcmp(cmd, "ping") == 0) rel_line("pong");
  }
  atomic_store(&g_stop, 1);
  pthread_mutex_lock(&g_mu);
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  return 0;
}

int main(int argc, char** argv) {
  g_self = "/proc/self/exe";
  static char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = 0;
    g_self = self;
  }
  if (argc >= 3 && strcmp(argv[1], "fork") == 0) return run_fork(atoi(argv[2]));
  if (argc >= 3 && strcmp(argv[1], "spawn") == 0) return run_spawn(atoi(argv[2]));
  if (argc >= 3 && strcmp(argv[1], "exec") == 0)
    return run_exec(argv[2], argc >= 4 ? atoi(argv[3]) : 1);
  fprintf(stderr, "usage: rel_fork fork N | spawn N | exec keep|clear [N]\n");
  return 2;
}
