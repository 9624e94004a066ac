/* The program `make bench` measures (bench/driver runs it).
 *
 * N threads blocked in a mix of wrapped calls (mutex, condvar, semaphore,
 * read, rwlock, poll) under 2-13 levels of calls; a heartbeat thread that
 * reads the clock in a loop and keeps every gap between two reads over 5 us;
 * a ping-pong pair that bounces a token through a mutex and a condvar (one
 * round trip about every 100 us) and keeps every round-trip time; with
 * --loaded, one CPU-bound thread per core; with --churn M, M threads are
 * created (all alive at once), then exit and are joined before the rest
 * starts, so the registry has seen M + N threads. --no-aux: no heartbeat and
 * no ping-pong (for VmRSS); --touch-malloc: each blocked thread mallocs once
 * before it blocks (what a thread's first malloc costs in resident memory).
 *
 * It runs with or without the library. The driver talks to it over stdin and
 * stdout, one command line in, one JSON line out:
 *   dumps K W   W warm-up then K measured dump cycles (library only): each is
 *               a quiet window (as long as the previous dump took, 10-500 ms),
 *               then tgkill(SIGUSR2) to itself and a wait (inotify) until the
 *               dump file appears under its final name; the file's header is
 *               read, the file removed. Reports per-dump latency, stop1, sweep,
 *               stop2, the heartbeat's longest gap per dump and per quiet
 *               window, and the round trips that overlap a dump against those
 *               inside a quiet window.
 *   mark        starts a window (for gdb / eu-stack runs from outside)
 *   stats       the heartbeat's longest gap and the round trips since `mark`
 *   rss         VmRSS now
 *   quit
 * The main thread waits for commands in read(2) (a wrapped call), so it is
 * a blocked thread like the others. */
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NOIPA __attribute__((noipa))

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char* what) {
  fprintf(stderr, "scenario: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* --- output: one JSON line, written with write(2) ----------------------- */

static char* g_out;
static size_t g_out_len, g_out_cap;

static void out(const char* fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int n = vsnprintf(g_out + g_out_len, g_out_cap - g_out_len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (g_out_len + (size_t)n < g_out_cap) {
      g_out_len += (size_t)n;
      return;
    }
    g_out_cap = (g_out_cap + (size_t)n) * 2 + 4096;
    g_out = realloc(g_out, g_out_cap);
    if (!g_out) die("realloc");
  }
}

static void out_flush(void) {
  out("\n");
  size_t off = 0;
  while (off < g_out_len) {
    ssize_t w = write(1, g_out + off, g_out_len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) exit(1);
    off += (size_t)w;
  }
  g_out_len = 0;
}

/* --- event rings: one writer each, read by the main thread -------------- */

struct event { uint64_t end_ns, len_ns; };  /* an interval [end - len, end] */
#define RING (1u << 20)
struct ring {
  struct event ev[RING];
  _Atomic uint64_t n;
};
static struct ring g_gaps;   /* heartbeat gaps over kMinGap */
static struct ring g_trips;  /* ping-pong round trips */

static void ring_put(struct ring* r, uint64_t end, uint64_t len) {
  uint64_t i = atomic_load_explicit(&r->n, memory_order_relaxed);
  r->ev[i % RING] = (struct event){end, len};
  atomic_store_explicit(&r->n, i + 1, memory_order_release);
}

/* Copies the events recorded since `from` (at most RING of them). */
static size_t ring_since(struct ring* r, uint64_t from, struct event** out_ev) {
  uint64_t n = atomic_load_explicit(&r->n, memory_order_acquire);
  if (n - from > RING) from = n - RING;
  size_t cnt = (size_t)(n - from);
  struct event* ev = malloc((cnt + 1) * sizeof *ev);
  if (!ev) die("malloc");
  for (size_t i = 0; i < cnt; ++i) ev[i] = r->ev[(from + i) % RING];
  *out_ev = ev;
  return cnt;
}

/* --- the threads ---------------------------------------------------------- */

#define MIN_GAP_NS 5000

static void* heartbeat(void* arg) {
  (void)arg;
  uint64_t prev = now_ns();
  for (;;) {
    uint64_t t = now_ns();
    if (t - prev > MIN_GAP_NS) ring_put(&g_gaps, t, t - prev);
    prev = t;
  }
  return NULL;
}

static pthread_mutex_t g_pp_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_pp_cv = PTHREAD_COND_INITIALIZER;
static int g_token;

static void* pinger(void* arg) {
  (void)arg;
  struct timespec pause = {0, 50000};
  for (;;) {
    uint64_t t0 = now_ns();
    pthread_mutex_lock(&g_pp_mu);
    g_token = 1;
    pthread_cond_signal(&g_pp_cv);
    while (g_token != 0) pthread_cond_wait(&g_pp_cv, &g_pp_mu);
    pthread_mutex_unlock(&g_pp_mu);
    uint64_t t1 = now_ns();
    ring_put(&g_trips, t1, t1 - t0);
    nanosleep(&pause, NULL);  /* EINTR (a stop signal) only shortens it */
  }
  return NULL;
}

static void* ponger(void* arg) {
  (void)arg;
  pthread_mutex_lock(&g_pp_mu);
  for (;;) {
    while (g_token != 1) pthread_cond_wait(&g_pp_cv, &g_pp_mu);
    g_token = 0;
    pthread_cond_signal(&g_pp_cv);
  }
  return NULL;
}

static volatile uint64_t g_sink;
static void* spinner(void* arg) {
  uint64_t x = (uintptr_t)arg;
  for (;;) {
    for (int i = 0; i < 1000000; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
    g_sink = x;
  }
  return NULL;
}

/* Blocked threads: each waits forever in one wrapped call. */
static pthread_mutex_t g_held = PTHREAD_MUTEX_INITIALIZER;   /* locked by main */
static pthread_mutex_t g_cv_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_never = PTHREAD_COND_INITIALIZER;
static pthread_rwlock_t g_rw = PTHREAD_RWLOCK_INITIALIZER;  /* read-locked by main */
static sem_t g_sem0;
static int g_pipe[2];  /* never written */
static _Atomic int g_blocking;
#define KINDS 6

static NOIPA void block_in(int kind) {
  atomic_fetch_add(&g_blocking, 1);
  char c;
  struct pollfd pfd = {g_pipe[0], POLLIN, 0};
  for (;;) {
    switch (kind) {
      case 0: pthread_mutex_lock(&g_held); break;
      case 1:
        pthread_mutex_lock(&g_cv_mu);
        for (;;) pthread_cond_wait(&g_never, &g_cv_mu);
      case 2: sem_wait(&g_sem0); break;
      case 3: (void)!read(g_pipe[0], &c, 1); break;
      case 4: pthread_rwlock_wrlock(&g_rw); break;
      default: poll(&pfd, 1, -1); break;
    }
  }
}

/* --timed PCT: that share of the blocked threads wait 20-30 ms at a time,
 * forever, in poll, nanosleep or pthread_cond_timedwait (the `busy`
 * scenario: some 140,000 wake-ups a second at 10,000 threads). */
static int g_timed_pct;
static pthread_mutex_t g_timed_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_timed_cv = PTHREAD_COND_INITIALIZER;

static NOIPA void timed_waits(long i) {
  atomic_fetch_add(&g_blocking, 1);
  struct pollfd pfd = {g_pipe[0], POLLIN, 0};
  for (unsigned n = 0;; ++n) {
    int ms = 20 + (int)((i * 7 + n) % 11);
    switch ((i + n) % 3) {
      case 0: poll(&pfd, 1, ms); break;
      case 1: {
        struct timespec ts = {0, ms * 1000000L};
        nanosleep(&ts, NULL);
        break;
      }
      default: {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += ms * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_mutex_lock(&g_timed_mu);
        pthread_cond_timedwait(&g_timed_cv, &g_timed_mu, &ts);
        pthread_mutex_unlock(&g_timed_mu);
      }
    }
  }
}

static NOIPA void nest(int kind, int depth) {
  volatile char pad[48];
  pad[0] = (char)depth;
  if (depth > 0) nest(kind, depth - 1);
  else block_in(kind);
  pad[1] = pad[0];  /* not a tail call */
}

static int g_touch_malloc;

static int g_kinds[KINDS] = {0, 1, 2, 3, 4, 5}, g_nkinds = KINDS;

static void* blocked_main(void* arg) {
  long i = (long)arg;
  if (g_touch_malloc) {  /* gives the thread its malloc tcache */
    void* volatile p = malloc(32);
    free(p);
  }
  if ((i * 37) % 100 < g_timed_pct) {
    timed_waits(i);
    return NULL;
  }
  nest(g_kinds[i % g_nkinds], 2 + (int)((i * 7) % 12));
  return NULL;
}

static sem_t g_churn_go;
static void* churn_main(void* arg) {
  (void)arg;
  atomic_fetch_add(&g_blocking, 1);
  while (sem_wait(&g_churn_go) != 0) {}
  return NULL;
}

static pthread_attr_t g_attr;

static void spawn(void* (*fn)(void*), void* arg) {
  pthread_t t;
  int rc = pthread_create(&t, &g_attr, fn, arg);
  if (rc) {
    errno = rc;
    die("pthread_create");
  }
  pthread_detach(t);
}

static void wait_blocking(int n) {
  while (atomic_load(&g_blocking) < n) {
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  atomic_store(&g_blocking, 0);
}

static long vm_rss_kb(void) {
  FILE* f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld", &kb) == 1) break;
  fclose(f);
  return kb;
}

/* --- windows: longest heartbeat gap, round-trip percentiles ------------- */

static int cmp_u64(const void* a, const void* b) {
  uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
  return x < y ? -1 : x > y;
}

static void out_raw(const char* key, const uint64_t* v, size_t n) {
  out("\"%s\":[", key);
  for (size_t i = 0; i < n; ++i) out("%s%.1f", i ? "," : "", v[i] / 1000.0);
  out("]");
}

static void out_trips(const char* key, uint64_t* v, size_t n) {
  qsort(v, n, sizeof *v, cmp_u64);
#define PCT(p) (n ? v[(size_t)((double)(p) * (double)(n - 1) + 0.5)] / 1000.0 : 0.0)
  out("\"%s\":{\"n\":%zu,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f}", key,
      n, PCT(0.5), PCT(0.9), PCT(0.99), PCT(0.999), n ? v[n - 1] / 1000.0 : 0.0);
#undef PCT
}

/* Longest gap overlapping [a, b]; gaps sorted by end time. */
static uint64_t longest_gap(const struct event* g, size_t n, uint64_t a, uint64_t b) {
  uint64_t best = 0;
  for (size_t i = 0; i < n; ++i)
    if (g[i].end_ns > a && g[i].end_ns - g[i].len_ns < b && g[i].len_ns > best) best = g[i].len_ns;
  return best;
}

/* --- dump cycles ------------------------------------------------------------ */

struct dump { uint64_t t0, t1, qa, qb, stop1, sweep, stop2, threads, blocked, frames, vias[6], dumper_cpu, frozen, cpu_at_t0; };
static const char* const kVia[6] = {"signal", "sweep", "self", "stw", "timeout", "start"};

static uint64_t header_u64(const char* text, const char* key) {
  const char* p = strstr(text, key);
  return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static size_t count(const char* text, const char* needle) {
  size_t n = 0;
  for (const char* p = text; (p = strstr(p, needle)); p += strlen(needle)) ++n;
  return n;
}

/* Waits for the next dump file of this process to appear in `dir`; reads
 * and removes it. Returns 0 on timeout. */
static int collect(int ino, const char* dir, struct dump* d, uint64_t timeout_ns) {
  char prefix[64];
  snprintf(prefix, sizeof prefix, "threadsnap.%d.", (int)getpid());
  uint64_t deadline = now_ns() + timeout_ns;
  char buf[8192] __attribute__((aligned(8)));
  for (;;) {
    uint64_t t = now_ns();
    if (t >= deadline) return 0;
    struct pollfd p = {ino, POLLIN, 0};
    int rc = poll(&p, 1, (int)((deadline - t) / 1000000 + 1));
    if (rc <= 0) continue;  /* EINTR from a stop signal, or timeout */
    ssize_t n = read(ino, buf, sizeof buf);
    if (n <= 0) continue;
    d->t1 = now_ns();
    for (ssize_t off = 0; off < n;) {
      struct inotify_event* e = (struct inotify_event*)(buf + off);
      off += (ssize_t)(sizeof *e + e->len);
      if (!e->len || strncmp(e->name, prefix, strlen(prefix)) != 0) continue;
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", dir, e->name);
      FILE* f = fopen(path, "r");
      if (!f) die(path);
      size_t cap = 1 << 20, len = 0;
      char* text = malloc(cap + 1);
      for (size_t got; (got = fread(text + len, 1, cap - len, f)) > 0;) {
        len += got;
        if (len == cap) text = realloc(text, (cap *= 2) + 1);
      }
      fclose(f);
      text[len] = 0;
      d->stop1 = header_u64(text, "\nstop1_ns ");
      d->sweep = header_u64(text, "\nsweep_ns ");
      d->stop2 = header_u64(text, "\nstop2_ns ");
      d->dumper_cpu = header_u64(text, "\ndumper_cpu_ns ");
      d->frozen = header_u64(text, "\nfrozen ");
      d->threads = header_u64(text, "\nthreads ");
      d->blocked = count(text, " state=blocked ");
      d->frames = count(text, "\n  0x");
      for (int v = 0; v < 6; ++v) {
        char key[32];
        /* The last key of a thread line, or followed by keys added later
         * (first=pc, kind=, tracked=). */
        snprintf(key, sizeof key, " via=%s\n", kVia[v]);
        d->vias[v] = count(text, key);
        snprintf(key, sizeof key, " via=%s ", kVia[v]);
        d->vias[v] += count(text, key);
      }
      int whole = len >= 4 && strcmp(text + len - 4, "end\n") == 0;
      free(text);
      unlink(path);
      if (!whole) {
        fprintf(stderr, "scenario: %s does not end with 'end'\n", path);
        exit(1);
      }
      return 1;
    }
  }
}

/* The library's dumper thread (named "threadsnap"), 0 if there is none. */
static pid_t find_dumper(void) {
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return 0;
  pid_t found = 0;
  for (struct dirent* e; !found && (e = readdir(dir));) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char path[300], comm[32] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, comm, sizeof comm - 1);
    close(fd);
    if (n > 0 && !strcmp(comm, "threadsnap\n")) found = atoi(e->d_name);
  }
  closedir(dir);
  return found;
}

/* A thread's CPU time (the per-thread CPU clock built from its tid), 0 if
 * it is gone. */
static uint64_t thread_cpu_ns(pid_t tid) {
  struct timespec ts;
  clockid_t clk = (clockid_t)((~(unsigned)tid) << 3) | 6;
  if (!tid || clock_gettime(clk, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void run_dumps(int k, int warm) {
  const char* dir = getenv("THREADSNAP_DIR");
  if (!dir) {
    fprintf(stderr, "scenario: THREADSNAP_DIR is not set\n");
    exit(1);
  }
  int ino = inotify_init1(IN_CLOEXEC);
  if (ino < 0 || inotify_add_watch(ino, dir, IN_MOVED_TO) < 0) die("inotify");
  struct dump* d = calloc((size_t)(k + warm), sizeof *d);
  uint64_t gaps_from = atomic_load(&g_gaps.n), trips_from = 0;
  uint64_t quiet = 10000000;
  pid_t pid = getpid(), tid = (pid_t)syscall(SYS_gettid), dumper = 0;
  for (int i = 0; i < k + warm; ++i) {
    if (i == warm) {
      dumper = find_dumper();  /* before the quiet window: it reads 10,000 files */
      gaps_from = atomic_load(&g_gaps.n);
      trips_from = atomic_load(&g_trips.n);
    }
    d[i].qa = now_ns();
    struct timespec q = {(time_t)(quiet / 1000000000ull), (long)(quiet % 1000000000ull)};
    while (nanosleep(&q, &q) != 0 && errno == EINTR) {}
    d[i].cpu_at_t0 = thread_cpu_ns(dumper);
    d[i].qb = d[i].t0 = now_ns();
    syscall(SYS_tgkill, pid, tid, SIGUSR2);
    if (!collect(ino, dir, &d[i], 120ull * 1000000000ull)) {
      fprintf(stderr, "scenario: no dump within 120 s\n");
      exit(1);
    }
    quiet = d[i].t1 - d[i].t0;
    if (quiet < 10000000) quiet = 10000000;
    if (quiet > 500000000) quiet = 500000000;
  }
  close(ino);
  /* The dumper's CPU per dump, all of it (its writing included, which the
   * header's dumper_cpu_ns cannot count): from one trigger to the next; the
   * last one ends after a 20 ms wait (its tail work is microseconds). */
  struct timespec settle = {0, 20000000};
  nanosleep(&settle, NULL);
  uint64_t cpu_end = thread_cpu_ns(dumper);
  struct dump* m = d + warm;
  struct event *gaps, *trips;
  size_t ng = ring_since(&g_gaps, gaps_from, &gaps);
  size_t nt = ring_since(&g_trips, trips_from, &trips);
  /* Round trips overlapping a dump, and those inside a quiet window. */
  uint64_t* during = malloc((nt + 1) * sizeof *during);
  uint64_t* calm = malloc((nt + 1) * sizeof *calm);
  size_t nd = 0, nc = 0, w = 0;
  for (size_t i = 0; i < nt; ++i) {
    uint64_t a = trips[i].end_ns - trips[i].len_ns, b = trips[i].end_ns;
    while (w < (size_t)k && m[w].t1 < a) ++w;
    if (w == (size_t)k) break;
    if (b > m[w].t0) during[nd++] = trips[i].len_ns;
    else if (a >= m[w].qa && b <= m[w].qb) calm[nc++] = trips[i].len_ns;
  }
  out("{\"dumps\":%d", k);
#define ARRAY(name, expr)                                               \
  out(",\"" name "\":[");                                               \
  for (int i = 0; i < k; ++i) out("%s%.1f", i ? "," : "", (double)(expr)); \
  out("]");
  ARRAY("latency_us", (m[i].t1 - m[i].t0) / 1000.0)
  ARRAY("stop1_us", m[i].stop1 / 1000.0)
  ARRAY("dumper_cpu_us", m[i].dumper_cpu / 1000.0)
  ARRAY("dumper_cpu_all_us",
        dumper && cpu_end ? ((i + 1 < k ? m[i + 1].cpu_at_t0 : cpu_end) - m[i].cpu_at_t0) / 1000.0 : 0)
  ARRAY("frozen", (double)m[i].frozen)
  ARRAY("sweep_us", m[i].sweep / 1000.0)
  ARRAY("stop2_us", m[i].stop2 / 1000.0)
  ARRAY("threads", m[i].threads)
  ARRAY("blocked", m[i].blocked)
  ARRAY("frames", m[i].frames)
  ARRAY("signalled", m[i].vias[0])
  ARRAY("hb_dump_us", longest_gap(gaps, ng, m[i].t0, m[i].t1) / 1000.0)
  ARRAY("hb_quiet_us", longest_gap(gaps, ng, m[i].qa, m[i].qb) / 1000.0)
  ARRAY("quiet_ms", (m[i].qb - m[i].qa) / 1e6)
#undef ARRAY
  out(",\"via\":{");
  for (int v = 0; v < 6; ++v) {
    uint64_t s = 0;
    for (int i = 0; i < k; ++i) s += m[i].vias[v];
    out("%s\"%s\":%llu", v ? "," : "", kVia[v], (unsigned long long)s);
  }
  out("},");
  /* Raw round trips (us), and the mean period between two of them. */
  out_raw("trips_dump_us", during, nd);
  out(",");
  out_raw("trips_quiet_us", calm, nc);
  /* The pinger's usual period: the median time between two round trips. */
  uint64_t* period = malloc((nt + 1) * sizeof *period);
  for (size_t i = 1; i < nt; ++i) period[i - 1] = trips[i].end_ns - trips[i - 1].end_ns;
  if (nt > 1) qsort(period, nt - 1, sizeof *period, cmp_u64);
  out(",\"trip_period_us\":%.1f}", nt > 1 ? period[(nt - 1) / 2] / 1000.0 : 0.0);
  free(period);
  out_flush();
  free(during);
  free(calm);
  free(gaps);
  free(trips);
  free(d);
}

/* --- main ------------------------------------------------------------------- */

int main(int argc, char** argv) {
  long blocked = 100, churn = 0, stack_kb = 64;
  int loaded = 0, aux = 1;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--blocked") && i + 1 < argc) blocked = atol(argv[++i]);
    else if (!strcmp(argv[i], "--churn") && i + 1 < argc) churn = atol(argv[++i]);
    else if (!strcmp(argv[i], "--stack-kb") && i + 1 < argc) stack_kb = atol(argv[++i]);
    else if (!strcmp(argv[i], "--loaded")) loaded = 1;
    else if (!strcmp(argv[i], "--no-aux")) aux = 0;
    else if (!strcmp(argv[i], "--touch-malloc")) g_touch_malloc = 1;
    else if (!strcmp(argv[i], "--timed") && i + 1 < argc) g_timed_pct = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--kinds") && i + 1 < argc) {
      /* e.g. 1,2,3,5: which waits the blocked threads use (0 mutex, 1 condvar,
       * 2 semaphore, 3 read, 4 rwlock, 5 poll) */
      g_nkinds = 0;
      for (char* p = argv[++i]; *p && g_nkinds < KINDS; ++p)
        if (*p >= '0' && *p < '0' + KINDS) g_kinds[g_nkinds++] = *p - '0';
      if (!g_nkinds) g_kinds[g_nkinds++] = 0;
    }
    else {
      fprintf(stderr,
              "usage: %s [--blocked N] [--churn M] [--loaded] [--no-aux] [--touch-malloc] "
              "[--kinds 0,1,2,3,4,5] [--stack-kb K] [--timed PCT]\n",
              argv[0]);
      return 2;
    }
  }
  long rss_start = vm_rss_kb();
  uint64_t t_start = now_ns();
  pthread_attr_init(&g_attr);
  pthread_attr_setstacksize(&g_attr, (size_t)stack_kb * 1024);
  if (pipe(g_pipe) != 0) die("pipe");
  sem_init(&g_sem0, 0, 0);
  sem_init(&g_churn_go, 0, 0);
  pthread_mutex_lock(&g_held);
  pthread_rwlock_rdlock(&g_rw);

  if (churn > 0) {
    pthread_t* ts = malloc((size_t)churn * sizeof *ts);
    for (long i = 0; i < churn; ++i) {
      int rc = pthread_create(&ts[i], &g_attr, churn_main, NULL);
      if (rc) {
        errno = rc;
        die("pthread_create (churn)");
      }
    }
    wait_blocking((int)churn);
    for (long i = 0; i < churn; ++i) sem_post(&g_churn_go);
    for (long i = 0; i < churn; ++i) pthread_join(ts[i], NULL);
    free(ts);
  }
  if (aux) {
    spawn(heartbeat, NULL);
    spawn(ponger, NULL);
    spawn(pinger, NULL);
  }
  if (loaded) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    for (long i = 0; i < cores; ++i) spawn(spinner, (void*)(i + 1));
  }
  long rss_before = vm_rss_kb();
  for (long i = 0; i < blocked; ++i) spawn(blocked_main, (void*)i);
  wait_blocking((int)blocked);
  struct timespec settle = {0, 200000000};
  nanosleep(&settle, NULL);
  out("{\"ready\":1,\"pid\":%d,\"setup_s\":%.2f,\"rss_start_kb\":%ld,\"rss_before_kb\":%ld,"
      "\"rss_kb\":%ld}",
      (int)getpid(), (now_ns() - t_start) / 1e9, rss_start, rss_before, vm_rss_kb());
  out_flush();

  char line[256];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(0, line + len, sizeof line - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    len += (size_t)n;
    line[len] = 0;
    char* nl;
    while ((nl = strchr(line, '\n'))) {
      *nl = 0;
      int k = 0, w = 0;
      static uint64_t mark_ns, mark_gaps, mark_trips;
      if (sscanf(line, "dumps %d %d", &k, &w) == 2) {
        run_dumps(k, w);
      } else if (!strcmp(line, "mark")) {
        mark_ns = now_ns();
        mark_gaps = atomic_load(&g_gaps.n);
        mark_trips = atomic_load(&g_trips.n);
        out("{\"ok\":1}");
        out_flush();
      } else if (!strcmp(line, "stats")) {
        uint64_t end = now_ns();
        struct event *gaps, *trips;
        size_t ng = ring_since(&g_gaps, mark_gaps, &gaps);
        size_t nt = ring_since(&g_trips, mark_trips, &trips);
        uint64_t* v = malloc((nt + 1) * sizeof *v);
        for (size_t i = 0; i < nt; ++i) v[i] = trips[i].len_ns;
        out("{\"window_s\":%.3f,\"hb_max_us\":%.1f,", (end - mark_ns) / 1e9,
            longest_gap(gaps, ng, mark_ns, end) / 1000.0);
        out_trips("trips", v, nt);
        out("}");
        out_flush();
        free(v);
        free(gaps);
        free(trips);
      } else if (!strcmp(line, "rss")) {
        out("{\"rss_kb\":%ld}", vm_rss_kb());
        out_flush();
      } else if (!strcmp(line, "quit")) {
        _exit(0);
      } else {
        out("{\"error\":\"unknown command\"}");
        out_flush();
      }
      len -= (size_t)(nl + 1 - line);
      memmove(line, nl + 1, len + 1);
    }
  }
}
