/* rel_interrupt: pause() and sleep() of a program that handles signals of
 * its own, while process-directed triggers (SIGUSR2) arrive.
 *
 *   rel_interrupt pause ROUNDS
 *       main has a SIGALRM handler and waits in pause() until it ran; a
 *       helper thread (every signal blocked, so both go to main) sends
 *       kill(getpid(), SIGUSR2) and then tgkill(main, SIGALRM), usually
 *       landing in the same wake-up. pause() must return for the alarm each
 *       round: "ok pause ROUNDS" or "FAIL pause round N ...".
 *   rel_interrupt sleep
 *       main calls sleep(2); once it sleeps, the helper waits 300 ms and
 *       sends kill(getpid(), SIGUSR2). Prints "sleep returned N" (what sleep
 *       returned) and "sleep short E" (1 if it returned within 1.5 s).
 *
 * Without the library the program installs a do-nothing SIGUSR2 handler of
 * its own, so the plain run shows what a handled signal does; under the
 * library SIGUSR2 is threadsnap's trigger. Exit 0 unless a check failed. */
#include "rel_util.h"

#include <sched.h>
#include <stdatomic.h>

static volatile sig_atomic_t g_alarm;
static atomic_int g_in_wait;
static atomic_int g_round_done;
static pid_t g_main_tid;

static void on_alarm(int sig) { g_alarm = 1; }
static void on_usr2(int sig) {}

/* Main sleeps in the kernel (state S) right now. */
static int main_sleeps(void) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)g_main_tid);
  if (rel_read_file(path, buf, sizeof buf) <= 0) return 0;
  char* p = strrchr(buf, ')');
  return p && p[1] == ' ' && p[2] == 'S';
}

static void wait_main_sleeping(void) {
  while (!atomic_load(&g_in_wait)) sched_yield();
  while (!main_sleeps()) rel_sleep_ms(1);
}

static int g_rounds;

static void* pause_helper(void* arg) {
  for (int i = 0; i < g_rounds; i++) {
    wait_main_sleeping();
    kill(getpid(), SIGUSR2);
    syscall(SYS_tgkill, getpid(), g_main_tid, SIGALRM);
    uint64_t deadline = rel_now_ms() + 3000;
    while (atomic_load(&g_round_done) <= i) {
      if (rel_now_ms() > deadline) {
        rel_line("FAIL pause round %d: pause() did not return for SIGALRM", i);
        _exit(3);
      }
      rel_sleep_ms(1);
    }
  }
  return arg;
}

static void* sleep_helper(void* arg) {
  wait_main_sleeping();
  rel_sleep_ms(300);
  kill(getpid(), SIGUSR2);
  return arg;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  g_main_tid = rel_gettid();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  if (!rel_library_loaded()) {
    sa.sa_handler = on_usr2;
    sigaction(SIGUSR2, &sa, NULL);
  }
  /* The helper blocks every signal: both signals go to main. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  int is_pause = strcmp(argv[1], "pause") == 0;
  g_rounds = argc > 2 ? atoi(argv[2]) : 20;
  if (pthread_create(&t, NULL, is_pause ? pause_helper : sleep_helper, NULL) != 0)
    rel_die("pthread_create");
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (is_pause) {
    for (int i = 0; i < g_rounds; i++) {
      g_alarm = 0;
      atomic_store(&g_in_wait, 1);
      while (!g_alarm) pause();
      atomic_store(&g_in_wait, 0);
      atomic_store(&g_round_done, i + 1);
    }
    pthread_join(t, NULL);
    rel_line("ok pause %d", g_rounds);
  } else {
    uint64_t t0 = rel_now_ms();
    atomic_store(&g_in_wait, 1);
    unsigned left = sleep(2);
    uint64_t ms = rel_now_ms() - t0;
    pthread_join(t, NULL);
    rel_line("sleep returned %u", left);
    rel_line("sleep short %d", ms < 1500);
  }
  return 0;
}
