/* rel_hammer: threads that leave wrapped calls all the time, so that stop 1
 * often catches one on its way out of a wrapper (in the barrier, claiming or
 * capturing itself) just as the stop signal reaches it.
 *
 *   rel_hammer [THREADS]     (default 6)
 *
 * Each "hammer" thread loops over wrapped calls that return at once:
 * read() of one byte from /dev/zero, poll() with a zero timeout, and a
 * pthread_create+pthread_join of a thread that returns at once every 64
 * rounds. Prints the tid lines and "ready"; "ping" -> "pong ROUNDS";
 * "quit" ends it. */
#include "rel_util.h"

#include <poll.h>
#include <stdatomic.h>

static atomic_int g_quit, g_registered;
static atomic_long g_rounds;

static void* nothing(void* arg) { return arg; }

static void* hammer_main(void* arg) {
  rel_register("hammer");
  atomic_fetch_add(&g_registered, 1);
  int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
  if (fd < 0) rel_die("open /dev/zero");
  char c;
  for (unsigned n = 0; !atomic_load(&g_quit); n++) {
    if (read(fd, &c, 1) != 1 && errno != EINTR) rel_die("read");
    poll(NULL, 0, 0);
    if (n % 64 == 0) {
      pthread_t t;
      if (pthread_create(&t, NULL, nothing, NULL) == 0) pthread_join(t, NULL);
    }
    atomic_fetch_add(&g_rounds, 1);
  }
  close(fd);
  return arg;
}

int main(int argc, char** argv) {
  int n = argc >= 2 ? atoi(argv[1]) : 6;
  if (n < 1 || n > 64) n = 6;
  rel_register("main");
  pthread_t t[64];
  for (int i = 0; i < n; i++)
    if (pthread_create(&t[i], NULL, hammer_main, NULL) != 0) rel_die("pthread_create");
  while (atomic_load(&g_registered) < n) rel_sleep_ms(1);
  rel_line("ready");
  char cmd[64];
  while (rel_read_cmd(cmd, sizeof cmd)) {
    if (strcmp(cmd, "ping") == 0) rel_line("pong %ld", atomic_load(&g_rounds));
    else if (strcmp(cmd, "quit") == 0) break;
  }
  atomic_store(&g_quit, 1);
  for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
  return 0;
}
