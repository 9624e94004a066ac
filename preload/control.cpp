// threadsnap: the control record; see control.h.
#include "preload/control.h"

#include <sys/mman.h>
#include <sys/syscall.h>

#include <atomic>
#include <cstring>

#include "preload/common.h"
#include "preload/config.h"
#include "preload/entry.h"

namespace threadsnap::detail {

namespace {

constexpr size_t kSize = 4096;
constexpr auto& g_page = g_local.control_page;  // null in a fork child
constexpr auto& g_control_lock = g_local.control_lock;
constexpr auto& g_message = g_local.control_message;
constexpr auto& g_last_dump = g_local.control_last_dump;
constexpr auto& g_dump_count = g_local.control_dump_count;
constexpr auto& g_seq = g_local.control_seq;

// Writes "seq N\n" with N padded to 20 digits, so that updates never move
// the lines after it.
void put_seq(char* at, uint64_t seq) {
  memcpy(at, "seq ", 4);
  for (int i = 19; i >= 0; --i) {
    at[4 + i] = static_cast<char>('0' + seq % 10);
    seq /= 10;
  }
  at[24] = '\n';
}

constexpr size_t kHeader = sizeof("threadsnap-control 1\n") - 1;

void publish_locked() {
  if (!g_page) return;
  // The body first into a buffer, then: seq odd, body, seq even.
  auto& body = g_local.control_body;
  size_t n = 0;
  auto add = [&](const char* s) {
    while (*s && n < kSize - kHeader - 26 - 8) body[n++] = *s++;
  };
  auto addu = [&](uint64_t v) {
    char t[24];
    int i = 0;
    do { t[i++] = static_cast<char>('0' + v % 10); v /= 10; } while (v);
    while (i && n < kSize - kHeader - 26 - 8) body[n++] = t[--i];
  };
  int trig = g_trigger_signal.load(std::memory_order_relaxed);
  add("version " TS_VERSION "\npid "); addu(static_cast<uint64_t>(raw_getpid()));
  add("\ndumper_tid "); addu(static_cast<uint64_t>(dumper_tid()));
  add("\nwake_signal "); addu(static_cast<uint64_t>(g_stop_signal));
  add("\ntrigger_signal "); addu(static_cast<uint64_t>(g_config.trigger_signal));
  add("\ntrigger ");
  add(!g_config.trigger_signal ? "none" : trig ? "on" : "off");
  add("\ndir "); add(g_config.dir);
  Line log;
  log_path(log);
  add("\nlog "); add(log.data());
  add("\ndumps "); addu(g_dump_count);
  add("\nlast_dump "); add(g_last_dump);
  add("\nlast_message "); add(g_message);
  add("\nrecord_dumps 1");  // it writes record dumps when asked (writer.h)
  add("\nend\n");
  char* p = g_page;
  put_seq(p + kHeader, ++g_seq);  // odd: update under way
  std::atomic_thread_fence(std::memory_order_seq_cst);
  memcpy(p + kHeader + 25, body, n);
  memset(p + kHeader + 25 + n, 0, kSize - kHeader - 25 - n);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  put_seq(p + kHeader, ++g_seq);  // even: whole
}

constexpr auto& g_creating = g_local.control_creating;

}  // namespace

void control_after_fork_child() {
  if (g_page) g_page = nullptr;  // without MADV_WIPEONFORK only
  if (g_creating.load(std::memory_order_relaxed)) g_creating.store(0, std::memory_order_relaxed);
}

void control_create_once() {
  if (g_page || g_creating.exchange(1, std::memory_order_acquire)) return;
  if (g_page) {  // made meanwhile by another thread
    g_creating.store(0, std::memory_order_release);
    return;
  }
  g_control_lock.reset();
  g_seq = 0;
  g_dump_count = 0;
  g_last_dump[0] = 0;
  g_message[0] = 0;
  long fd = raw_syscall(SYS_memfd_create, reinterpret_cast<long>("threadsnap-control"),
                        MFD_CLOEXEC);
  void* p = MAP_FAILED;
  if (fd >= 0 && raw_syscall(SYS_ftruncate, fd, kSize) == 0) {
    long r = raw_syscall6(SYS_mmap, 0, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (r >= 0 || r < -4095) p = reinterpret_cast<void*>(r);
  }
  if (fd >= 0) raw_syscall(SYS_close, fd);
  if (p != MAP_FAILED) {
    raw_syscall(SYS_madvise, reinterpret_cast<long>(p), kSize, MADV_DONTFORK);
    char* page = static_cast<char*>(p);
    memcpy(page, "threadsnap-control 1\n", kHeader);
    g_page = page;
    control_publish();
  }
  // On failure: no record; threadsnap dump then says so.
}

void control_publish() {
  g_control_lock.lock();
  publish_locked();
  g_control_lock.unlock();
}

void control_set_message(const char* text) {
  g_control_lock.lock();
  size_t n = strnlen(text, sizeof(g_message) - 1);
  memcpy(g_message, text, n);
  g_message[n] = 0;
  for (size_t i = 0; i < n; ++i)
    if (g_message[i] == '\n') g_message[i] = ' ';
  publish_locked();
  g_control_lock.unlock();
}

void control_set_last_dump(const char* path, uint64_t count) {
  g_control_lock.lock();
  size_t n = strnlen(path, sizeof(g_last_dump) - 1);
  memcpy(g_last_dump, path, n);
  g_last_dump[n] = 0;
  g_dump_count = count;
  publish_locked();
  g_control_lock.unlock();
}

}  // namespace threadsnap::detail
