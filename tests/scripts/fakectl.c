// Test only (tests/scripts/test_dump_emulated_record.sh builds it): emulates
// the control record of issue 12 on top of a libthreadsnap that does not
// publish one yet, so that `threadsnap dump`'s record path can be tested with
// real programs (PostgreSQL-like, JVM) under the real library. Preloaded
// after libthreadsnap. It maps a memfd "threadsnap-control", installs a
// handler for the wake signal (THREADSNAP_TEST_WAKE, default 41) and starts a
// thread that takes it with sigwaitinfo and calls the library's exported
// threadsnap_trigger(). Every 100 ms it republishes whether the trigger
// signal's handler is still the library's ("on") or the program's ("off").
// Not the lead's implementation: only the record's format and rules.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static char* rec;
static int wake = 41, trig = 12;
static const char* dir = "/tmp";
static unsigned long seq, dumps;
static pid_t dumper_tid;

static void publish(void) {
  const char* state = "none";
  if (trig) {
    struct sigaction sa;
    Dl_info info;
    sigaction(trig, NULL, &sa);
    void* h = (sa.sa_flags & SA_SIGINFO) ? (void*)sa.sa_sigaction : (void*)sa.sa_handler;
    state = (h && dladdr(h, &info) && info.dli_fname && strstr(info.dli_fname, "libthreadsnap"))
                ? "on" : "off";
  }
  char text[4096];
  memset(text, 0, sizeof text);
  seq++;  // odd while updating
  snprintf(rec, 4096, "threadsnap-control 1\nseq %lu\nend\n", seq);
  seq++;
  snprintf(text, sizeof text,
           "threadsnap-control 1\nseq %lu\nversion emulated\npid %d\ndumper_tid %d\n"
           "wake_signal %d\ntrigger_signal %d\ntrigger %s\ndir %s\nlog %s/threadsnap.log\n"
           "dumps %lu\nlast_dump \nlast_message \nend\n",
           seq, (int)getpid(), (int)dumper_tid, wake, trig, state, dir, dir, dumps);
  memcpy(rec, text, sizeof text);
}

static void on_wake(int sig) {
  (void)sig;
  int (*t)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "threadsnap_trigger");
  if (t) t();
}

static void* dumper(void* arg) {
  (void)arg;
  dumper_tid = (pid_t)syscall(SYS_gettid);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, wake);
  struct timespec ts = {0, 100 * 1000 * 1000};
  for (;;) {
    // Raw syscalls: no libthreadsnap wrapper (this thread may start in a
    // forked child before the library's own fork handler has run).
    if (syscall(SYS_rt_sigtimedwait, &set, NULL, &ts, 8) == wake) {
      on_wake(wake);
      dumps++;
    }
    publish();
  }
  return NULL;
}

static void start(void);

// A forked child keeps the parent's record mapped (the harder case for the
// command) and publishes its own, with its own dumper thread.
static void after_fork_child(void) {
  dumper_tid = 0;
  seq = dumps = 0;
  start();
}

__attribute__((constructor)) static void fakectl_init(void) {
  const char* w = getenv("THREADSNAP_TEST_WAKE");
  const char* s = getenv("THREADSNAP_SIGNAL");
  const char* d = getenv("THREADSNAP_DIR");
  if (w) wake = atoi(w);
  if (s) trig = strcmp(s, "none") == 0 ? 0 : atoi(s);
  if (d) dir = strdup(d);
  start();
  pthread_atfork(NULL, NULL, after_fork_child);
}

static void start(void) {
  int fd = (int)syscall(SYS_memfd_create, "threadsnap-control", 0);
  if (fd < 0 || ftruncate(fd, 4096) != 0) return;
  rec = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (rec == MAP_FAILED) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_wake;  // (inherited by a child, but installed again: harmless)
  sa.sa_flags = SA_RESTART;
  sigaction(wake, &sa, NULL);
  // The dumper thread blocks everything; the wake signal reaches it only
  // thread-directed (and never the program's threads, which keep it unblocked
  // but are never sent it once dumper_tid is published).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  // libc's pthread_create, not the library's wrapper: in a forked child this
  // runs in a fork handler, maybe before libthreadsnap's has reset its lock.
  int (*create)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*) =
      (int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*))dlsym(RTLD_NEXT,
                                                                             "pthread_create");
  pthread_t t;
  if (!create || create(&t, NULL, dumper, NULL) != 0) {
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  struct timespec ms = {0, 1000 * 1000};
  while (!__atomic_load_n(&dumper_tid, __ATOMIC_ACQUIRE)) syscall(SYS_nanosleep, &ms, NULL);
  publish();
}
