// What the library costs a program that never asks for a dump: the wrapped
// calls on their uncontended or ready paths, and thread creation.
//
// The same binary runs plain and under LD_PRELOAD=build/libthreadsnap.so
// (bench/driver alternates the two and compares medians); nothing here
// knows whether the library is loaded. Calls go through the PLT, as in any
// program, so the preloaded wrappers see them.
#include <benchmark/benchmark.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

namespace {

void BM_MutexLockUnlock(benchmark::State& state) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  for (auto _ : state) {
    pthread_mutex_lock(&m);
    pthread_mutex_unlock(&m);
  }
}
BENCHMARK(BM_MutexLockUnlock);

// Not wrapped: what the wrapper's uncontended fast path (trylock) costs in
// glibc, to read the line above against.
void BM_MutexTrylockUnlock(benchmark::State& state) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  for (auto _ : state) {
    pthread_mutex_trylock(&m);
    pthread_mutex_unlock(&m);
  }
}
BENCHMARK(BM_MutexTrylockUnlock);

void BM_SemPostWait(benchmark::State& state) {
  sem_t s;
  sem_init(&s, 0, 0);
  for (auto _ : state) {
    sem_post(&s);
    sem_wait(&s);
  }
  sem_destroy(&s);
}
BENCHMARK(BM_SemPostWait);

// read(2) of one byte from a pipe that already holds data; the pipe is
// refilled (outside the timing) when it runs dry.
void BM_ReadReadyPipe(benchmark::State& state) {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK) != 0) std::abort();
  int size = fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
  if (size <= 0) size = 65536;
  static char chunk[65536];
  auto fill = [&] {
    for (int left = size; left > 0;) {
      ssize_t w = write(fds[1], chunk, left < 65536 ? left : 65536);
      if (w <= 0) break;
      left -= static_cast<int>(w);
    }
  };
  fill();
  int avail = size;
  char c;
  for (auto _ : state) {
    if (avail == 0) {
      state.PauseTiming();
      fill();
      avail = size;
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(read(fds[0], &c, 1));
    --avail;
  }
  close(fds[0]);
  close(fds[1]);
}
BENCHMARK(BM_ReadReadyPipe);

// One round trip through a mutex and a condvar between this thread and a
// partner (the same pair as bench/scenario.c's ping-pong).
struct PingPong {
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  int token = 0;  // 1: the partner's turn, 0: ours, -1: stop
  pthread_t partner;

  static void* partner_main(void* p) {
    auto* pp = static_cast<PingPong*>(p);
    pthread_mutex_lock(&pp->mu);
    for (;;) {
      while (pp->token == 0) pthread_cond_wait(&pp->cv, &pp->mu);
      if (pp->token < 0) break;
      pp->token = 0;
      pthread_cond_signal(&pp->cv);
    }
    pthread_mutex_unlock(&pp->mu);
    return nullptr;
  }
  void round_trip() {
    pthread_mutex_lock(&mu);
    token = 1;
    pthread_cond_signal(&cv);
    while (token != 0) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
  }
};

// Pins the calling thread (and the threads it creates) to the last CPU it
// may run on; returns the old mask.
cpu_set_t pin_to_last_cpu() {
  cpu_set_t old, one;
  pthread_getaffinity_np(pthread_self(), sizeof old, &old);
  CPU_ZERO(&one);
  int last = 0;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &old)) last = c;
  CPU_SET(last, &one);
  pthread_setaffinity_np(pthread_self(), sizeof one, &one);
  return old;
}

// With same_cpu, both threads are pinned to the last CPU: every round trip is
// then two context switches on one CPU, which is far steadier on a small,
// shared machine than a wake-up across CPUs.
void ping_pong(benchmark::State& state, bool same_cpu) {
  cpu_set_t old;
  if (same_cpu) old = pin_to_last_cpu();  // the partner inherits it
  PingPong pp;
  pthread_create(&pp.partner, nullptr, PingPong::partner_main, &pp);
  for (auto _ : state) pp.round_trip();
  pthread_mutex_lock(&pp.mu);
  pp.token = -1;
  pthread_cond_signal(&pp.cv);
  pthread_mutex_unlock(&pp.mu);
  pthread_join(pp.partner, nullptr);
  if (same_cpu) pthread_setaffinity_np(pthread_self(), sizeof old, &old);
}

void BM_CondPingPong(benchmark::State& state) { ping_pong(state, false); }
BENCHMARK(BM_CondPingPong)->UseRealTime();
void BM_CondPingPongSameCpu(benchmark::State& state) { ping_pong(state, true); }
BENCHMARK(BM_CondPingPongSameCpu)->UseRealTime();

void* noop(void* arg) { return arg; }

void create_join(benchmark::State& state, bool same_cpu) {
  cpu_set_t old;
  if (same_cpu) old = pin_to_last_cpu();
  for (auto _ : state) {
    pthread_t t;
    pthread_create(&t, nullptr, noop, nullptr);
    pthread_join(t, nullptr);
  }
  if (same_cpu) pthread_setaffinity_np(pthread_self(), sizeof old, &old);
}

void BM_CreateJoin(benchmark::State& state) { create_join(state, false); }
BENCHMARK(BM_CreateJoin)->UseRealTime();
void BM_CreateJoinSameCpu(benchmark::State& state) { create_join(state, true); }
BENCHMARK(BM_CreateJoinSameCpu)->UseRealTime();

// The number of dumps the preloaded library's control record counts (-1
// without one), and the path of its last dump.
long control_dumps(std::string* last) {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.find("threadsnap-control") == std::string::npos) continue;
    const char* page = reinterpret_cast<const char*>(std::stoull(line, nullptr, 16));
    std::string text(page, strnlen(page, 4096));
    size_t d = text.find("\ndumps "), l = text.find("\nlast_dump ");
    if (l != std::string::npos && last) *last = text.substr(l + 11, text.find('\n', l + 1) - l - 11);
    return d == std::string::npos ? -1 : std::atol(text.c_str() + d + 7);
  }
  return -1;
}

// Asks the preloaded library for one dump and waits until its control
// record counts it (the dump file is removed). Plain, nothing.
void dump_once() {
  auto trigger = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "threadsnap_trigger"));
  if (!trigger) return;
  trigger();
  std::string last;
  for (int i = 0; i < 1000 && control_dumps(&last) < 1; ++i) usleep(10000);
  if (!last.empty()) unlink(last.c_str());
}

// fork + _exit + waitpid from a process with a few threads blocked: what a
// pre-forking server (PostgreSQL's postmaster, pgbench -C) pays per child.
// The child must not start anything of threadsnap's (issue 11: a dumper per
// child made this 14.6 ms instead of 0.4 ms on a loaded machine).
// after_dump: the process was dumped once first (the dump's helpers, libunwind
// and mimalloc, stay loaded: more mappings for every later fork).
void fork_exit_wait(benchmark::State& state, bool after_dump) {
  std::mutex m;
  std::condition_variable cv;
  bool stop = false;
  std::vector<std::thread> idle;
  for (int i = 0; i < 4; ++i)
    idle.emplace_back([&] {
      std::unique_lock<std::mutex> l(m);
      cv.wait(l, [&] { return stop; });
    });
  if (after_dump) dump_once();
  for (auto _ : state) {
    pid_t c = fork();
    if (c == 0) _exit(0);
    int st;
    waitpid(c, &st, 0);
  }
  {
    std::lock_guard<std::mutex> l(m);
    stop = true;
  }
  cv.notify_all();
  for (auto& t : idle) t.join();
}

void BM_ForkExitWait(benchmark::State& state) { fork_exit_wait(state, false); }
BENCHMARK(BM_ForkExitWait)->UseRealTime();

// Only where asked for (bench/driver runs it in a process of its own): a
// dump would change what every benchmark after it in the same process
// measures.
void BM_ForkExitWaitAfterADump(benchmark::State& state) { fork_exit_wait(state, true); }
const bool g_after_dump_registered = getenv("THREADSNAP_BENCH_AFTER_DUMP") &&
    benchmark::RegisterBenchmark("BM_ForkExitWaitAfterADump", BM_ForkExitWaitAfterADump)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
