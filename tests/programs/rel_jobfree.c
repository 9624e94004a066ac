/* rel_jobfree: detached "job" threads that free the memory holding their
 * own pthread_t at once, a common pattern: the creator passes a job struct
 * to pthread_create(&job->thread, ...) and never touches it again, and the
 * job unmaps it first thing. glibc writes *thread before the new thread can
 * run and never again, so this is valid. Each job thread runs SCHED_FIFO on
 * the creator's one CPU, so it runs (and unmaps the page) before
 * pthread_create returns to the creator whenever the kernel lets it.
 *   rel_jobfree ROUNDS   -> "fifo 1|0" (0: not permitted, default policy),
 *                           then "ok jobs ROUNDS" and exit 0 */
#include "rel_util.h"

#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>

struct job {
  pthread_t thread;
  int n;
};

static atomic_int g_finished;

static void* job_main(void* arg) {
  struct job* j = arg;
  int n = j->n;
  munmap(j, 4096);  /* the job owns its memory: gone, *thread with it */
  atomic_fetch_add(&g_finished, 1);
  return (void*)(intptr_t)n;
}

int main(int argc, char** argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 200;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
  sched_setaffinity(0, sizeof one, &one);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
  pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
  struct sched_param sp = {.sched_priority = 1};
  pthread_attr_setschedparam(&attr, &sp);
  int fifo = 1;
  for (int i = 0; i < rounds; i++) {
    struct job* j = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (j == MAP_FAILED) rel_die("mmap");
    j->n = i;
    int rc = pthread_create(&j->thread, fifo ? &attr : NULL, job_main, j);
    if (rc == EPERM && fifo) {
      fifo = 0;
      rc = pthread_create(&j->thread, NULL, job_main, j);
    }
    if (rc != 0) {
      errno = rc;
      rel_die("pthread_create");
    }
    if (i == 0) rel_line("fifo %d", fifo);
  }
  while (atomic_load(&g_finished) < rounds) rel_sleep_ms(1);
  rel_line("ok jobs %d", rounds);
  return 0;
}
