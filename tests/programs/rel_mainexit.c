/* rel_mainexit: the main thread ends with pthread_exit while two threads go
 * on: "spinner" spins, "reader" waits for commands in a wrapped read of
 * stdin, "poller" waits in poll() on a pipe (a dump reads its fd from the
 * caller's array). Prints "tid main/spinner/reader/poller TID", "poll fd N",
 * "ready" (main is about to call pthread_exit), then "main exited" once
 * main's task is a zombie. Commands: "quit" -> "bye" and the threads end;
 * the process then ends with status 0 (glibc's exit(0) when the last thread
 * exits). */
#include "rel_util.h"

#include <poll.h>
#include <stdatomic.h>

static atomic_int g_quit;
static pid_t g_main_tid;
static int g_poll_pipe[2];

static void* poller_main(void* arg) {
  rel_register("poller");
  struct pollfd pfd = {g_poll_pipe[0], POLLIN, 0};
  while (poll(&pfd, 1, -1) < 0 && errno == EINTR) {
  }
  return arg;
}

static void* spinner_main(void* arg) {
  rel_register("spinner");
  while (!atomic_load(&g_quit)) {
  }
  return arg;
}

/* Main's task state is Z (it ended; the process lives on). */
static int main_is_zombie(void) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)g_main_tid);
  if (rel_read_file(path, buf, sizeof buf) <= 0) return 0;
  char* p = strrchr(buf, ')');
  return p && p[1] == ' ' && p[2] == 'Z';
}

static void* reader_main(void* arg) {
  rel_register("reader");
  while (!main_is_zombie()) rel_sleep_ms(1);
  rel_line("main exited");
  char cmd[64];
  while (rel_read_cmd(cmd, sizeof cmd))
    if (strcmp(cmd, "quit") == 0) break;
  rel_line("bye");
  atomic_store(&g_quit, 1);
  if (write(g_poll_pipe[1], "q", 1) != 1) rel_die("write");
  return arg;
}

int main(void) {
  g_main_tid = rel_register("main");
  if (pipe(g_poll_pipe) != 0) rel_die("pipe");
  rel_line("poll fd %d", g_poll_pipe[0]);
  pthread_t t;
  if (pthread_create(&t, NULL, poller_main, NULL) != 0) rel_die("pthread_create");
  if (pthread_create(&t, NULL, spinner_main, NULL) != 0) rel_die("pthread_create");
  if (pthread_create(&t, NULL, reader_main, NULL) != 0) rel_die("pthread_create");
  rel_sleep_ms(5);
  rel_line("ready");
  pthread_exit(NULL);
}
