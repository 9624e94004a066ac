// demo_pool: the program `make demo` snapshots. A small server-like process
// whose threads are stuck in the ways real ones are:
//   - 8 idle pool workers waiting for jobs on a condition variable,
//   - 2 I/O threads blocked in read() on a pipe,
//   - a ticker sleeping in nanosleep(),
//   - a lock pile-up: "holder" does slow I/O while holding the table lock,
//     and 6 request threads wait for that lock,
//   - a deadlock: two transfer threads lock two accounts in opposite order,
//   - the main thread joining "holder".
// Prints "ready PID" once every thread is parked, then stays so until killed.
//
//   demo_pool [--no-deadlock] [--workers N] [--requests N]
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int g_arrived;

// --- the pool --------------------------------------------------------------
struct job { struct job* next; void (*run)(void*); void* arg; };
static pthread_mutex_t g_queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_queue_cv = PTHREAD_COND_INITIALIZER;
static struct job* g_queue;

static struct job* pool_take(void) {
  pthread_mutex_lock(&g_queue_lock);
  atomic_fetch_add(&g_arrived, 1);
  while (g_queue == NULL) pthread_cond_wait(&g_queue_cv, &g_queue_lock);  // DEMO:idle
  struct job* j = g_queue;
  g_queue = j->next;
  pthread_mutex_unlock(&g_queue_lock);
  return j;
}

static void* pool_worker(void* arg) {
  for (;;) {
    struct job* j = pool_take();
    j->run(j->arg);
    free(j);
  }
  return arg;
}

// --- I/O threads -------------------------------------------------------------
static int g_pipe[2];

static void* io_thread(void* arg) {
  char buf[256];
  atomic_fetch_add(&g_arrived, 1);
  while (read(g_pipe[0], buf, sizeof buf) > 0) {  // DEMO:io
  }
  return arg;
}

static void* ticker(void* arg) {
  atomic_fetch_add(&g_arrived, 1);
  for (;;) {
    struct timespec ts = {3600, 0};
    nanosleep(&ts, NULL);  // DEMO:ticker
  }
  return arg;
}

// --- the lock pile-up --------------------------------------------------------
static pthread_mutex_t g_table_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_slow_pipe[2];
static atomic_int g_holder_in;

static void slow_refresh(void) {
  char c;
  // Slow I/O while holding the table lock: everyone else piles up behind us.
  if (read(g_slow_pipe[0], &c, 1) < 0) perror("read");  // DEMO:holder
}

static void* holder(void* arg) {
  pthread_mutex_lock(&g_table_lock);
  atomic_store(&g_holder_in, 1);
  atomic_fetch_add(&g_arrived, 1);
  slow_refresh();
  pthread_mutex_unlock(&g_table_lock);
  return arg;
}

static int g_table[64];

static void handle_request(int key) {
  pthread_mutex_lock(&g_table_lock);  // DEMO:request
  g_table[key % 64]++;
  pthread_mutex_unlock(&g_table_lock);
}

static void* request_thread(void* arg) {
  while (!atomic_load(&g_holder_in)) usleep(1000);
  atomic_fetch_add(&g_arrived, 1);
  handle_request((int)(long)arg);
  return arg;
}

// --- the deadlock --------------------------------------------------------------
struct account { pthread_mutex_t lock; long balance; };
static struct account g_acct[2] = {{PTHREAD_MUTEX_INITIALIZER, 100}, {PTHREAD_MUTEX_INITIALIZER, 100}};
static pthread_barrier_t g_both_locked;

static void transfer(struct account* from, struct account* to, long amount) {
  pthread_mutex_lock(&from->lock);
  pthread_barrier_wait(&g_both_locked);  // each holds its first lock now
  atomic_fetch_add(&g_arrived, 1);
  pthread_mutex_lock(&to->lock);  // DEMO:deadlock
  from->balance -= amount;
  to->balance += amount;
  pthread_mutex_unlock(&to->lock);
  pthread_mutex_unlock(&from->lock);
}

static void* transfer_thread(void* arg) {
  long which = (long)arg;
  transfer(&g_acct[which], &g_acct[1 - which], 10);
  return arg;
}

static pthread_t start(void* (*fn)(void*), void* arg, const char* name) {
  pthread_t t;
  if (pthread_create(&t, NULL, fn, arg) != 0) {
    perror("pthread_create");
    exit(1);
  }
  pthread_setname_np(t, name);
  return t;
}

int main(int argc, char** argv) {
  int deadlock = 1, workers = 8, requests = 6;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--no-deadlock")) deadlock = 0;
    else if (!strcmp(argv[i], "--workers") && i + 1 < argc) workers = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--requests") && i + 1 < argc) requests = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: demo_pool [--no-deadlock] [--workers N] [--requests N]\n");
      return 2;
    }
  }
  if (pipe(g_pipe) != 0 || pipe(g_slow_pipe) != 0) return 1;
  pthread_barrier_init(&g_both_locked, NULL, 2);
  char name[32];  // pthread_setname_np keeps the first 15 bytes
  int expected = 0;
  for (int i = 0; i < workers; ++i, ++expected) {
    snprintf(name, sizeof name, "worker-%d", i);
    start(pool_worker, NULL, name);
  }
  for (int i = 0; i < 2; ++i, ++expected) {
    snprintf(name, sizeof name, "io-%d", i);
    start(io_thread, NULL, name);
  }
  start(ticker, NULL, "ticker"), ++expected;
  pthread_t h = start(holder, NULL, "holder");
  ++expected;
  for (int i = 0; i < requests; ++i, ++expected) {
    snprintf(name, sizeof name, "request-%d", i);
    start(request_thread, (void*)(long)i, name);
  }
  if (deadlock) {
    start(transfer_thread, (void*)0L, "transfer-a");
    start(transfer_thread, (void*)1L, "transfer-b");
    expected += 2;
  }
  while (atomic_load(&g_arrived) < expected) usleep(1000);
  usleep(200 * 1000);  // let the last arrivals reach their blocking calls
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  pthread_join(h, NULL);  // DEMO:join
  return 0;
}
