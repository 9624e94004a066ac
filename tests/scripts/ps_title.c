// A PostgreSQL-like program for tests/scripts/test_dump_title.sh (built by
// the test): it owns SIGUSR2 (its handler exits, as PostgreSQL's checkpointer
// shuts down on it), forks children, and every process overwrites its whole
// argv+environ area with its process title, as PostgreSQL's set_ps_display
// does, so /proc/PID/environ no longer says anything about threadsnap.
//
//   ps_title STATUS NCHILDREN
//
// STATUS gets 'ready PID TITLE' per process once its threads wait, 'EINTR PID
// CALL' whenever a wait of one of its threads was interrupted, and 'USR2
// HANDLER RAN PID' (then the process exits 3). Each process has a thread in
// pthread_cond_wait ("bgworker") and one in poll(NULL, 0, 1000) ("poller"),
// and its main thread sits in poll on a pipe no one writes.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

extern char** environ;
static int status_fd = -1;

static void say(const char* fmt, const char* what) {
  char buf[512];
  int n = snprintf(buf, sizeof buf, fmt, (int)getpid(), what);
  if (n > 0) (void)!write(status_fd, buf, (size_t)n);
}

static void on_usr2(int sig) {
  (void)sig;
  say("USR2 HANDLER RAN %d%s\n", "");
  _exit(3);
}

// PostgreSQL's PS_USE_CLOBBER_ARGV: the area from argv[0] to the end of the
// last contiguous environ string becomes the title, padded with NULs;
// environ moves to a copy first.
static char* ps_area;
static size_t ps_len;

static void save_ps_area(int argc, char** argv) {
  char* end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
  int n = 0;
  while (environ[n]) n++;
  for (int i = 0; i < n; i++)
    if (environ[i] == end) end = environ[i] + strlen(environ[i]) + 1;
  ps_area = argv[0];
  ps_len = (size_t)(end - argv[0]);
  char** copy = malloc(sizeof(char*) * (size_t)(n + 1));
  for (int i = 0; i < n; i++) copy[i] = strdup(environ[i]);
  copy[n] = NULL;
  environ = copy;
}

static void set_title(const char* title) {
  memset(ps_area, 0, ps_len);
  strncpy(ps_area, title, ps_len - 1);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void* bgworker(void* arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "bgworker");
  pthread_mutex_lock(&mu);
  for (;;) pthread_cond_wait(&cv, &mu);
  return NULL;
}

static void* poller(void* arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "poller");
  for (;;)
    if (poll(NULL, 0, 1000) < 0 && errno == EINTR) say("EINTR %d %s\n", "poll(NULL)");
  return NULL;
}

static void run(const char* title) {
  set_title(title);
  pthread_t t;
  pthread_create(&t, NULL, bgworker, NULL);
  pthread_create(&t, NULL, poller, NULL);
  int p[2];
  if (pipe(p) != 0) _exit(2);
  usleep(100 * 1000);  // both threads are in their waits
  say("ready %d %s\n", title);
  struct pollfd fd = {.fd = p[0], .events = POLLIN};
  for (;;)
    if (poll(&fd, 1, 60 * 1000) < 0 && errno == EINTR) say("EINTR %d %s\n", "poll(pipe)");
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ps_title STATUS NCHILDREN\n");
    return 2;
  }
  status_fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  int nchild = atoi(argv[2]);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr2;
  sigaction(SIGUSR2, &sa, NULL);
  save_ps_area(argc, argv);
  static const char* const kids[] = {"pgtitle: checkpointer", "pgtitle: walwriter",
                                     "pgtitle: autovacuum launcher"};
  for (int i = 0; i < nchild && i < 3; i++) {
    pid_t c = fork();
    if (c == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      run(kids[i]);
    }
  }
  run("pgtitle: postmaster");
  return 0;
}
