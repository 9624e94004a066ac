/* Heavy churn: C "churner" threads (argv[1], default 2) create and join
 * short-lived threads as fast as they can, and P pairs (argv[2], default 2)
 * of threads hand a turn back and forth under a mutex and condition variable
 * (every hand-off wakes a thread in pthread_cond_wait). A dump's sweep must
 * still finish. Main, blocked in read(0), answers '?' with
 * "stats created=N wakes=M"; EOF ends it. Prints "ready" when running. */
#include "testprog.h"

static unsigned long g_created, g_wakes;

static void* short_main(void* arg) {
  __atomic_add_fetch(&g_created, 1, __ATOMIC_RELAXED);
  return arg;
}

NOIPA void* churn_main(void* arg) {
  char name[16];
  snprintf(name, sizeof name, "churn%ld", (long)arg);
  pthread_setname_np(pthread_self(), name);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  for (;;) {
    pthread_t t;
    if (pthread_create(&t, &attr, short_main, NULL) == 0) pthread_join(t, NULL);
  }
  return NULL;
}

struct pair {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int turn;
};

struct side {
  struct pair* p;
  int me;
};

NOIPA void* pingpong_main(void* arg) {
  struct side* s = arg;
  char name[16];
  snprintf(name, sizeof name, "pp%d", s->me);
  pthread_setname_np(pthread_self(), name);
  pthread_mutex_lock(&s->p->mu);
  for (;;) {
    while (s->p->turn != s->me % 2) pthread_cond_wait(&s->p->cv, &s->p->mu);
    s->p->turn = !s->p->turn;
    __atomic_add_fetch(&g_wakes, 1, __ATOMIC_RELAXED);
    pthread_cond_signal(&s->p->cv);
  }
  return NULL;
}

int main(int argc, char** argv) {
  long churners = argc > 1 ? atol(argv[1]) : 2;
  long pairs = argc > 2 ? atol(argv[2]) : 2;
  pthread_setname_np(pthread_self(), "churn-main");
  for (long i = 0; i < pairs; i++) {
    struct pair* p = calloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int k = 0; k < 2; k++) {
      struct side* s = malloc(sizeof *s);
      s->p = p;
      s->me = (int)(2 * i + k);
      pthread_t t;
      if (pthread_create(&t, NULL, pingpong_main, s)) tp_die("pthread_create");
    }
  }
  for (long i = 0; i < churners; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, churn_main, (void*)i)) tp_die("pthread_create");
  }
  tp_line("tid churn-main %d", (int)tp_gettid());
  tp_line("ready");
  char buf[64];
  ssize_t r;
  while ((r = read(0, buf, sizeof buf)) != 0) {
    for (ssize_t i = 0; i < r; i++)
      if (buf[i] == '?')
        tp_line("stats created=%lu wakes=%lu", __atomic_load_n(&g_created, __ATOMIC_RELAXED),
                __atomic_load_n(&g_wakes, __ATOMIC_RELAXED));
  }
  return 0;
}
