/* rel_soak: the probe of the concurrent protocol plus thread churn, for the
 * soak tests (tests/integration/reliability_test.cpp, RelSoak.*).
 *
 *   rel_soak [RING] [CHURNERS]
 *
 * - Token ring: RING threads "ringN" pass a token under ONE mutex that each
 *   holds all the time it is outside pthread_cond_wait, so at any instant at
 *   most one ring thread is outside its wait. A consistent cut shows at most
 *   one ring thread that is not blocked in pthread_cond_wait.
 * - Creation prefix: "prefixer" creates threads one after the other; each
 *   names itself "pE.I" (epoch E mod 1000, index I) before the next is
 *   created, then waits; after 32 the prefixer lets them exit in creation
 *   order, joining each. A dump therefore holds one epoch's indices as a
 *   contiguous range, plus at most one thread not yet named (it still
 *   carries its creator's name, "prefixer").
 * - Churn: CHURNERS threads "churner" create threads that lock a mutex and
 *   exit, joined or detached, as fast as they can.
 * Prints the tid lines, "sanitized 0|1" (built with ASan), "ready", and on
 * "stat" a line
 *   "stat ring=PASSES churn=THREADS epochs=EPOCHS"
 * "quit" ends it. */
#include "rel_util.h"

#include <semaphore.h>
#include <stdatomic.h>

#define MAX_RING 64
#define PREFIX_THREADS 32

static atomic_int g_quit, g_registered;
static atomic_long g_passes, g_churned, g_epochs;

/* ---- token ring ------------------------------------------------------------ */

static int g_ring;
static pthread_mutex_t g_ring_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_ring_cv[MAX_RING];
static int g_token;

static void* ring_main(void* arg) {
  int me = (int)(intptr_t)arg;
  char name[16];
  snprintf(name, sizeof name, "ring%d", me);
  rel_register(name);
  atomic_fetch_add(&g_registered, 1);
  pthread_mutex_lock(&g_ring_mu);
  while (!atomic_load(&g_quit)) {
    while (g_token != me && !atomic_load(&g_quit)) pthread_cond_wait(&g_ring_cv[me], &g_ring_mu);
    g_token = (me + 1) % g_ring;
    atomic_fetch_add(&g_passes, 1);
    pthread_cond_signal(&g_ring_cv[g_token]);
  }
  for (int i = 0; i < g_ring; i++) pthread_cond_signal(&g_ring_cv[i]);
  pthread_mutex_unlock(&g_ring_mu);
  return NULL;
}

/* ---- creation prefix ------------------------------------------------------- */

struct pslot {
  sem_t named, may_exit;
  int epoch, index;
};
static struct pslot g_slots[PREFIX_THREADS];

static void sem_wait_all(sem_t* s) {
  while (sem_wait(s) != 0 && errno == EINTR) {
  }
}

static void* prefix_main(void* arg) {
  struct pslot* s = arg;
  char name[16];
  snprintf(name, sizeof name, "p%d.%d", s->epoch % 1000, s->index);
  pthread_setname_np(pthread_self(), name);
  sem_post(&s->named);
  sem_wait_all(&s->may_exit);
  return NULL;
}

static void* prefixer_main(void* arg) {
  rel_register("prefixer");
  atomic_fetch_add(&g_registered, 1);
  for (int i = 0; i < PREFIX_THREADS; i++) {
    sem_init(&g_slots[i].named, 0, 0);
    sem_init(&g_slots[i].may_exit, 0, 0);
  }
  pthread_t t[PREFIX_THREADS];
  for (int epoch = 0; !atomic_load(&g_quit); epoch++) {
    for (int i = 0; i < PREFIX_THREADS; i++) {
      g_slots[i].epoch = epoch;
      g_slots[i].index = i;
      if (pthread_create(&t[i], NULL, prefix_main, &g_slots[i]) != 0) rel_die("pthread_create");
      sem_wait_all(&g_slots[i].named);
    }
    for (int i = 0; i < PREFIX_THREADS; i++) {
      sem_post(&g_slots[i].may_exit);
      pthread_join(t[i], NULL);
    }
    atomic_fetch_add(&g_epochs, 1);
  }
  return arg;
}

/* ---- churn ------------------------------------------------------------------- */

static pthread_mutex_t g_churn_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int g_detached_live;

static void* churn_child(void* arg) {
  pthread_mutex_lock(&g_churn_mu);
  pthread_mutex_unlock(&g_churn_mu);
  atomic_fetch_add(&g_churned, 1);
  if (arg) atomic_fetch_sub(&g_detached_live, 1);
  return NULL;
}

static void* churner_main(void* arg) {
  rel_register("churner");
  atomic_fetch_add(&g_registered, 1);
  pthread_attr_t detached;
  pthread_attr_init(&detached);
  pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
  for (unsigned n = 0; !atomic_load(&g_quit); n++) {
    pthread_t t;
    if (n % 4 == 3 && atomic_load(&g_detached_live) < 16) {
      atomic_fetch_add(&g_detached_live, 1);
      if (pthread_create(&t, &detached, churn_child, (void*)1) != 0)
        atomic_fetch_sub(&g_detached_live, 1);
    } else if (pthread_create(&t, NULL, churn_child, NULL) == 0) {
      pthread_join(t, NULL);
    }
  }
  return arg;
}

int main(int argc, char** argv) {
  g_ring = argc >= 2 ? atoi(argv[1]) : 8;
  int churners = argc >= 3 ? atoi(argv[2]) : 2;
  if (g_ring < 2 || g_ring > MAX_RING) g_ring = 8;
  rel_register("main");
  for (int i = 0; i < g_ring; i++) pthread_cond_init(&g_ring_cv[i], NULL);
  pthread_t ring[MAX_RING], prefixer, churner[16];
  for (int i = 0; i < g_ring; i++)
    if (pthread_create(&ring[i], NULL, ring_main, (void*)(intptr_t)i) != 0) rel_die("pthread_create");
  if (pthread_create(&prefixer, NULL, prefixer_main, NULL) != 0) rel_die("pthread_create");
  for (int i = 0; i < churners && i < 16; i++)
    if (pthread_create(&churner[i], NULL, churner_main, NULL) != 0) rel_die("pthread_create");
  int want = g_ring + 1 + (churners < 16 ? churners : 16);
  while (atomic_load(&g_registered) < want) rel_sleep_ms(1);
#if defined(__SANITIZE_ADDRESS__)
  rel_line("sanitized 1"); /* ASan's quarantine grows the heap: no RSS check */
#else
  rel_line("sanitized 0");
#endif
  rel_line("ring %d", g_ring);
  rel_line("ready");
  char cmd[64];
  while (rel_read_cmd(cmd, sizeof cmd)) {
    if (strcmp(cmd, "stat") == 0)
      rel_line("stat ring=%ld churn=%ld epochs=%ld", atomic_load(&g_passes),
               atomic_load(&g_churned), atomic_load(&g_epochs));
    else if (strcmp(cmd, "quit") == 0)
      break;
  }
  atomic_store(&g_quit, 1);
  pthread_mutex_lock(&g_ring_mu);
  for (int i = 0; i < g_ring; i++) pthread_cond_signal(&g_ring_cv[i]);
  pthread_mutex_unlock(&g_ring_mu);
  for (int i = 0; i < g_ring; i++) pthread_join(ring[i], NULL);
  for (int i = 0; i < churners && i < 16; i++) pthread_join(churner[i], NULL);
  /* The prefixer may wait on a thread that waits for its turn: leave it. */
  rel_line("bye");
  return 0;
}
