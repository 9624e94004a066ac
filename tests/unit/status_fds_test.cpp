// read_task_status with the dumper's kept status fds (keep_status_fds,
// preload/adopt.h): a kept fd read again must show the thread's signal mask
// as it is now, not as it was when the fd was opened; a thread that is gone
// must read as gone (its fd names the task, not the tid); and reads must not
// pile up fds.
#include <dirent.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "preload/adopt.h"
#include "preload/entry.h"

namespace threadsnap::detail {
namespace {

// Open fds of this process (the directory's own fd not counted).
int open_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n - 1;
}

// A thread that blocks or unblocks `sig` when asked (1 block, 2 unblock, 3
// end) and acknowledges each step.
struct Masker {
  int sig;
  std::atomic<int> ask{0}, done{0};
  std::atomic<pid_t> tid{0};
  static void* main(void* arg) {
    auto* m = static_cast<Masker*>(arg);
    m->tid = static_cast<pid_t>(syscall(SYS_gettid));
    for (int step = 1;; ++step) {
      while (m->ask.load() < step) usleep(100);
      int a = m->ask.load();
      if (a == 3) return nullptr;
      sigset_t s;
      sigemptyset(&s);
      sigaddset(&s, m->sig);
      pthread_sigmask(a == 1 ? SIG_BLOCK : SIG_UNBLOCK, &s, nullptr);
      m->done = step;
    }
  }
  void step(int a, int n) {
    ask = a;
    while (done.load() < n) usleep(100);
  }
};

TEST(StatusFds, AKeptFdShowsTheMaskNowAndAGoneThreadReadsAsGone) {
  int saved = g_stop_signal.load();
  g_stop_signal = SIGRTMIN + 5;
  keep_status_fds();
  Masker m;
  m.sig = g_stop_signal.load();
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, Masker::main, &m), 0);
  while (!m.tid.load()) usleep(100);
  bool blocks = true, zombie = true;
  int before = open_fds();
  ASSERT_TRUE(read_task_status(m.tid, &blocks, &zombie));
  EXPECT_FALSE(blocks);
  EXPECT_FALSE(zombie);
  int kept = open_fds();
  EXPECT_EQ(kept, before + 1) << "the status file is kept open";
  m.step(1, 1);  // blocks the stop signal
  ASSERT_TRUE(read_task_status(m.tid, &blocks, &zombie));
  EXPECT_TRUE(blocks) << "a kept fd read again must show the mask as it is now";
  m.step(2, 2);  // unblocks it
  ASSERT_TRUE(read_task_status(m.tid, &blocks, &zombie));
  EXPECT_FALSE(blocks);
  EXPECT_EQ(open_fds(), kept) << "reads again open nothing more";
  pid_t tid = m.tid;
  m.ask = 3;
  ASSERT_EQ(pthread_join(t, nullptr), 0);
  EXPECT_FALSE(read_task_status(tid, &blocks, &zombie)) << "an ended thread reads as gone";
  EXPECT_EQ(open_fds(), before) << "its kept fd is closed";
  g_stop_signal = saved;
}

// The frozen verdict's other reading (preload/scheduler.h): a thread that
// blocks the stop signal with it pending was not delivered it (a program
// that masks it), one that blocks it with nothing pending was (it runs a
// handler that masks every signal, as ours does, before its claim).
std::atomic<int> g_in_handler{0}, g_handled{0};
std::atomic<bool> g_leave_handler{false};
void hold_in_handler(int) {
  g_in_handler = 1;
  while (!g_leave_handler.load()) {
    timespec ts = {0, 100000};
    nanosleep(&ts, nullptr);
  }
  g_in_handler = 0;
  g_handled.fetch_add(1);
}

TEST(StatusFds, PendingTellsABlockedSignalFromOneDeliveredToAHandler) {
  int saved = g_stop_signal.load();
  g_stop_signal = SIGRTMIN + 6;
  int sig = g_stop_signal.load();
  struct sigaction sa = {}, old = {};
  sa.sa_handler = hold_in_handler;
  sigfillset(&sa.sa_mask);  // as the stop handler's
  ASSERT_EQ(sigaction(sig, &sa, &old), 0);
  Masker m;
  m.sig = sig;
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, Masker::main, &m), 0);
  while (!m.tid.load()) usleep(100);
  bool blocks = true, zombie = true, pending = true;
  ASSERT_TRUE(read_task_status(m.tid, &blocks, &zombie, &pending));
  EXPECT_FALSE(blocks);
  EXPECT_FALSE(pending);

  // Delivered: the thread sits in the handler, every signal blocked.
  ASSERT_EQ(syscall(SYS_tgkill, getpid(), m.tid.load(), sig), 0);
  while (!g_in_handler.load()) usleep(100);
  ASSERT_TRUE(read_task_status(m.tid, &blocks, &zombie, &pending));
  EXPECT_TRUE(blocks) << "the handler's mask";
  EXPECT_FALSE(pending) << "delivered: no longer pending";
  g_leave_handler = true;
  while (g_handled.load() < 1) usleep(100);

  // Blocked by the program: the signal stays pending.
  m.step(1, 1);
  ASSERT_EQ(syscall(SYS_tgkill, getpid(), m.tid.load(), sig), 0);
  ASSERT_TRUE(read_task_status(m.tid, &blocks, &zombie, &pending));
  EXPECT_TRUE(blocks);
  EXPECT_TRUE(pending) << "a masked signal stays pending";
  m.step(2, 2);  // unblocks it: delivered now
  while (g_handled.load() < 2) usleep(100);
  ASSERT_TRUE(read_task_status(m.tid, &blocks, &zombie, &pending));
  EXPECT_FALSE(blocks);
  EXPECT_FALSE(pending);

  m.ask = 3;
  ASSERT_EQ(pthread_join(t, nullptr), 0);
  sigaction(sig, &old, nullptr);
  g_stop_signal = saved;
}

}  // namespace
}  // namespace threadsnap::detail
