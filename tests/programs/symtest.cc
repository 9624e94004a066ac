// NOSANITIZE (check-asan builds it plain: its golden lines depend on normal inlining)
// symtest: threads blocked at known source lines, for the symbolizer's golden
// tests and the report benchmark.
//
// Every thread ends up in pthread_cond_wait, called from a line marked with a
// "MARK:" comment: a plain C function, a function inlined into its caller, a
// C++ method, a recursion, and a call to a noreturn function (its return
// address lies past the caller's end). The tests grep these markers to learn
// which lines the symbolized stacks must name, so no line is hard-coded.
//
//   symtest [--per-kind N] [--depth D] [--vary-depth N]
//                                          block, print "ready PID", wait to be killed
//   symtest --selfdump PATH [...]          same threads, but each records its own
//                                          stack with backtrace(3) first; main
//                                          writes a threadsnap v1 dump of them to
//                                          PATH and exits (no library needed)
//
#include <dirent.h>
#include <elf.h>
#include <execinfo.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

constexpr int kMaxFrames = 128;

pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
int g_blocked = 0;

struct Capture {
  pid_t tid = 0;
  char name[16] = {};
  void* frames[kMaxFrames];
  int n = 0;
  timespec since{};
};
std::vector<Capture> g_caps;
int g_next_cap = 0;

using WaitFn = int (*)(pthread_cond_t*, pthread_mutex_t*);

// Self-dump mode: record the caller's stack (return addresses only, frame 0 of
// backtrace() is this function and is dropped), then wait like the real thing.
__attribute__((noinline)) int capture_then_wait(pthread_cond_t* c, pthread_mutex_t* m) {
  Capture& cap = g_caps[g_next_cap++];  // under g_mu
  void* raw[kMaxFrames + 1];
  int n = backtrace(raw, kMaxFrames + 1);
  cap.n = n > 1 ? n - 1 : 0;
  memcpy(cap.frames, raw + 1, sizeof(void*) * cap.n);
  cap.tid = gettid();
  pthread_getname_np(pthread_self(), cap.name, sizeof cap.name);
  clock_gettime(CLOCK_MONOTONIC, &cap.since);
  return pthread_cond_wait(c, m);
}

WaitFn volatile g_wait = pthread_cond_wait;
volatile bool g_forever = true;  // never cleared; keeps gcc from proving the waits endless

void block_here_forever_prologue() {
  pthread_mutex_lock(&g_mu);
  ++g_blocked;
}

}  // namespace

extern "C" {

// A plain C function.
__attribute__((noinline)) void plain_wait(void) {
  block_here_forever_prologue();
  while (g_forever) g_wait(&g_cv, &g_mu);  // MARK:plain_wait
}

static inline __attribute__((always_inline)) void inlined_wait(void) {
  block_here_forever_prologue();
  while (g_forever) g_wait(&g_cv, &g_mu);  // MARK:inlined_wait
}

__attribute__((noinline)) void inline_caller(void) {
  inlined_wait();  // MARK:inline_caller
  __asm__ volatile("" ::: "memory");
}

}  // extern "C"

namespace symtest {

class Pool {
 public:
  explicit Pool(int id) : id_(id) {}
  __attribute__((noinline)) void run_method(int rounds);

 private:
  int id_;
};

void Pool::run_method(int rounds) {
  block_here_forever_prologue();
  for (int i = 0; g_forever && (i < rounds || rounds < 0); ++i) g_wait(&g_cv, &g_mu);  // MARK:run_method
  (void)id_;
}

}  // namespace symtest

extern "C" __attribute__((noinline)) void recurse_wait(int depth) {
  if (depth > 0) {
    recurse_wait(depth - 1);  // MARK:recurse
    __asm__ volatile("" ::: "memory");
    return;
  }
  plain_wait();  // MARK:recurse_leaf
}

// A call that is the last instruction of its function (the callee never
// returns): the return address lies past the caller's end, so only looking up
// address - 1 names the caller.
extern "C" [[noreturn]] __attribute__((noinline)) void wait_forever(void) {
  block_here_forever_prologue();
  for (;;) g_wait(&g_cv, &g_mu);  // MARK:wait_forever
}

extern "C" __attribute__((noinline)) void noreturn_caller(void) {
  wait_forever();  // MARK:noreturn_caller
}

namespace {

constexpr int kKinds = 5;
int g_depth = 4;

int g_vary_depth = 0;

void run_kind(long kind);

// --vary-depth N (benchmark): thread i first descends i % N levels, so the
// threads have N * 5 distinct stacks of different depths.
__attribute__((noinline)) void descend(int n, long kind) {
  if (n > 0) {
    descend(n - 1, kind);
    __asm__ volatile("" ::: "memory");
    return;
  }
  run_kind(kind);
}

void* thread_main(void* arg) {
  long kind = reinterpret_cast<long>(arg);
  if (g_vary_depth > 0) {
    descend(static_cast<int>((kind / kKinds) % g_vary_depth), kind);
    return nullptr;
  }
  run_kind(kind);
  return nullptr;
}

__attribute__((noinline)) void run_kind(long kind) {
  switch (kind % kKinds) {
    case 0: pthread_setname_np(pthread_self(), "plain"); plain_wait(); break;
    case 1: pthread_setname_np(pthread_self(), "inline"); inline_caller(); break;
    case 2: {
      pthread_setname_np(pthread_self(), "method");
      symtest::Pool pool(static_cast<int>(kind));
      pool.run_method(-1);
      break;
    }
    case 3: pthread_setname_np(pthread_self(), "deep"); recurse_wait(g_depth); break;
    case 4: pthread_setname_np(pthread_self(), "noreturn"); noreturn_caller(); break;
  }
  __asm__ volatile("" ::: "memory");  // no tail calls: keep this frame on the stack
}

// --- self-dump writer: a realistic dump without the library -----------------

struct Obj { uintptr_t bias; std::string path; std::string build_id; };

int collect_obj(dl_phdr_info* info, size_t, void* data) {
  auto* objs = static_cast<std::vector<Obj>*>(data);
  Obj o;
  o.bias = info->dlpi_addr;
  o.path = info->dlpi_name ? info->dlpi_name : "";
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    const char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      auto* nh = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const char* name = p + sizeof *nh;
      const unsigned char* desc =
          reinterpret_cast<const unsigned char*>(name + ((nh->n_namesz + 3) & ~3u));
      if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
        char hex[3];
        for (unsigned k = 0; k < nh->n_descsz; ++k) {
          snprintf(hex, sizeof hex, "%02x", desc[k]);
          o.build_id += hex;
        }
      }
      p = reinterpret_cast<const char*>(desc) + ((nh->n_descsz + 3) & ~3u);
    }
  }
  objs->push_back(o);
  return 0;
}

std::string encode(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' || c == '%' || c == '\t' || c == '\n') {
      char buf[4];
      snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

void write_selfdump(const char* path, int nthreads) {
  std::vector<Obj> objs;
  dl_iterate_phdr(collect_obj, &objs);
  char exe[4096] = {};
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n < 0) n = 0;
  exe[n] = 0;

  std::string tmp = std::string(path) + ".tmp";
  FILE* f = fopen(tmp.c_str(), "w");
  if (!f) { perror(tmp.c_str()); exit(1); }
  timespec rt, mono;
  clock_gettime(CLOCK_REALTIME, &rt);
  clock_gettime(CLOCK_MONOTONIC, &mono);
  fprintf(f, "threadsnap 1\npid %d\nexe %s\ntime_ns %lld\nmode selfdump\nthreads %d\n",
          getpid(), encode(exe).c_str(),
          static_cast<long long>(rt.tv_sec) * 1000000000LL + rt.tv_nsec, nthreads);
  fprintf(f, "stop1_ns 0\nsweep_ns 0\nstop2_ns 0\n");

  FILE* maps = fopen("/proc/self/maps", "r");
  char line[8192];
  while (maps && fgets(line, sizeof line, maps)) {
    unsigned long start, end, off;
    char perms[8], file[4096] = {};
    if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %4095[^\n]", &start, &end, perms, &off, file) < 4)
      continue;
    if (perms[2] != 'x' || file[0] == 0 || strstr(file, "[vsyscall]")) continue;
    std::string p = file;
    while (!p.empty() && p[0] == ' ') p.erase(0, 1);
    std::string extra;
    for (const Obj& o : objs) {
      std::string op = o.path.empty() ? std::string(exe) : o.path;
      if (op == "linux-vdso.so.1") op = "[vdso]";
      char r1[4096], r2[4096];
      bool same = op == p || (realpath(op.c_str(), r1) && realpath(p.c_str(), r2) && !strcmp(r1, r2));
      if (same) {
        if (!o.build_id.empty()) extra += " build-id=" + o.build_id;
        char b[32];
        snprintf(b, sizeof b, " bias=0x%lx", static_cast<unsigned long>(o.bias));
        extra += b;
        break;
      }
    }
    fprintf(f, "module 0x%lx 0x%lx 0x%lx %s%s\n", start, end, off, encode(p).c_str(), extra.c_str());
  }
  if (maps) fclose(maps);

  for (int i = 0; i < nthreads; ++i) {
    const Capture& c = g_caps[i];
    long long ns = (mono.tv_sec - c.since.tv_sec) * 1000000000LL + (mono.tv_nsec - c.since.tv_nsec);
    fprintf(f, "thread tid=%d name=%s state=blocked call=pthread_cond_wait obj=%p blocked_ns=%lld via=sweep\n",
            c.tid, encode(c.name).c_str(), static_cast<void*>(&g_cv), ns);
    for (int k = 0; k < c.n; ++k) fprintf(f, "  %p\n", c.frames[k]);
  }
  fprintf(f, "end\n");
  fclose(f);
  if (rename(tmp.c_str(), path) != 0) { perror("rename"); exit(1); }
}

}  // namespace

int main(int argc, char** argv) {
  int per_kind = 2;
  const char* selfdump = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--per-kind") && i + 1 < argc) per_kind = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--depth") && i + 1 < argc) g_depth = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--vary-depth") && i + 1 < argc) g_vary_depth = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--selfdump") && i + 1 < argc) selfdump = argv[++i];
    else { fprintf(stderr, "usage: symtest [--per-kind N] [--depth D] [--vary-depth N] [--selfdump PATH]\n"); return 2; }
  }
  int total = per_kind * kKinds;
  if (selfdump) {
    g_caps.resize(total);
    g_wait = capture_then_wait;
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  for (long i = 0; i < total; ++i) {
    pthread_t t;
    if (pthread_create(&t, &attr, thread_main, reinterpret_cast<void*>(i)) != 0) {
      fprintf(stderr, "symtest: pthread_create failed after %ld threads\n", i);
      return 1;
    }
  }
  // Every thread counts itself under g_mu and releases it only inside
  // pthread_cond_wait: once we hold g_mu with the full count, all are parked.
  for (;;) {
    pthread_mutex_lock(&g_mu);
    int b = g_blocked;
    pthread_mutex_unlock(&g_mu);
    if (b == total) break;
    usleep(1000);
  }
  if (selfdump) {
    pthread_mutex_lock(&g_mu);
    write_selfdump(selfdump, total);
    pthread_mutex_unlock(&g_mu);
    _exit(0);
  }
  printf("ready %d\n", getpid());
  fflush(stdout);
  for (;;) pause();
}
