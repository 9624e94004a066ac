/* rel_timerhelper: glibc's timer_create(SIGEV_THREAD) helper thread, which
 * blocks every signal and which threadsnap did not see start. The timer
 * fires once (glibc starts the helper with the first timer and runs the
 * notification in a thread of its own), then main waits for commands in a
 * wrapped read. Prints "tid main TID", "ready" once the notification ran.
 * Commands: "quit". */
// CFLAGS: -lrt
#include "rel_util.h"

#include <stdatomic.h>

static atomic_int g_fired;

static void notify(union sigval v) { atomic_store(&g_fired, 1); }

int main(void) {
  rel_register("main");
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD;
  sev.sigev_notify_function = notify;
  timer_t timer;
  if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) rel_die("timer_create");
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_nsec = 1000000;  /* once, in 1 ms */
  if (timer_settime(timer, 0, &its, NULL) != 0) rel_die("timer_settime");
  while (!atomic_load(&g_fired)) rel_sleep_ms(1);
  rel_sleep_ms(5);  /* the notification thread ends */
  rel_line("ready");
  char cmd[64];
  while (rel_read_cmd(cmd, sizeof cmd))
    if (strcmp(cmd, "quit") == 0) break;
  timer_delete(timer);
  return 0;
}
