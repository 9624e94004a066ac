// Unit tests of the dump writer (preload/writer.cpp): format v1 as DESIGN.md
// states it, from records and capture slots filled by hand, and the file's
// publication (mode 0600, the final name only when whole).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/call_ids.h"
#include "preload/claim.h"
#include "preload/config.h"
#include "preload/registry.h"
#include "preload/writer.h"
#include "unwind/modules.h"

using namespace threadsnap::detail;
namespace fs = std::filesystem;

namespace {

class WriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/threadsnap-writer-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // The settings the format depends on, whatever other tests left.
    saved_ = g_config;
    snprintf(g_config.dir, sizeof(g_config.dir), "%s", dir_.c_str());
    g_config.concurrent = true;
    g_config.unwind_fp = false;
    g_config.log_to = kLogNone;  // no log file next to the dump
    g_config.test_named_temp = false;
    g_config.test_write_delay_ms = 0;
    modules_refresh();
  }
  void TearDown() override {
    g_config = saved_;
    g_registry_lock.lock();
    for (Record* r : records_) registry_release(r);
    g_registry_lock.unlock();
    fs::remove_all(dir_);
  }

  // A member with its capture slot, as a dump of generation kGen left it.
  Capture* Member(pid_t tid, const char* name, Record** out = nullptr) {
    g_registry_lock.lock();
    Record* r = registry_add(kRunning, false);
    g_registry_lock.unlock();
    EXPECT_NE(r, nullptr);
    r->tid.store(tid);
    registry_set_name(r, name);
    records_.push_back(r);
    members_.push_back(r->index);
    Capture* c = slot_at(r->index);
    memset(c, 0, sizeof(Capture));
    c->gen = kGen;
    c->tid = tid;
    memcpy(c->name, r->name, sizeof(c->name));
    if (out) *out = r;
    return c;
  }

  // Writes the dump and returns its lines; the directory holds that one file.
  std::vector<std::string> Write() {
    DumpTimes t = {};
    t.time_ns = 1764240000123456789ull;
    t.stop1_mono_ns = 5000000000ull;
    t.stop1_ns = 41000;
    t.sweep_ns = 3100000;
    t.stop2_ns = 9000;
    t.gen = kGen;
    write_dump(members_.data(), static_cast<uint32_t>(members_.size()), t);
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir_)) files.push_back(e.path());
    EXPECT_EQ(files.size(), 1u) << "the dump and nothing else (no temporary left)";
    if (files.empty()) return {};
    path_ = files[0];
    std::ifstream in(path_);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  }

  static constexpr uint32_t kGen = 77;
  std::string dir_;
  Config saved_;
  std::vector<Record*> records_;
  std::vector<uint32_t> members_;
  fs::path path_;
};

std::vector<std::string> Starting(const std::vector<std::string>& lines, const std::string& p) {
  std::vector<std::string> out;
  for (const auto& l : lines)
    if (l.compare(0, p.size(), p) == 0) out.push_back(l);
  return out;
}

TEST_F(WriterTest, FormatV1) {
  Capture* blocked = Member(4243, "mc worker");
  blocked->via = kViaSweep;
  blocked->kind = kBlocked;
  blocked->call = kCall_pthread_mutex_lock;
  blocked->obj = 0x5;
  blocked->since_ns = 5000000000ull - 812345678ull;
  blocked->owner = 4242;
  blocked->owner_gen = kGen;
  blocked->nframes = 2;
  blocked->frames[0] = 0x7f12c0a1b2c3;
  blocked->frames[1] = 0x5600aa0123a4;
  Capture* running = Member(4242, "memcached");
  running->via = kViaSignal;
  running->kind = kRunning;
  running->first_pc = 1;
  running->nframes = 1;
  running->frames[0] = 0x5600aa011111;
  Record* gone_rec = nullptr;
  Member(4244, "given-up", &gone_rec);
  abandon(gone_rec, kGen);  // a claim this dump gave up: from the record only

  std::vector<std::string> l = Write();
  ASSERT_GE(l.size(), 10u);
  EXPECT_EQ(l[0], "threadsnap 1");
  EXPECT_EQ(l[1], "pid " + std::to_string(getpid()));
  EXPECT_EQ(Starting(l, "exe ").size(), 1u);
  EXPECT_EQ(Starting(l, "time_ns "), std::vector<std::string>{"time_ns 1764240000123456789"});
  EXPECT_EQ(Starting(l, "mode "), std::vector<std::string>{"mode concurrent"});
  EXPECT_EQ(Starting(l, "threads "), std::vector<std::string>{"threads 3"});
  EXPECT_EQ(Starting(l, "stop1_ns "), std::vector<std::string>{"stop1_ns 41000"});
  EXPECT_EQ(Starting(l, "sweep_ns "), std::vector<std::string>{"sweep_ns 3100000"});
  EXPECT_EQ(Starting(l, "stop2_ns "), std::vector<std::string>{"stop2_ns 9000"});
  EXPECT_FALSE(Starting(l, "module ").empty()) << "every executable mapping is listed";
  for (const auto& m : Starting(l, "module ")) {
    std::istringstream s(m);
    std::string word, start, end, offset, path;
    s >> word >> start >> end >> offset >> path;
    EXPECT_EQ(start.compare(0, 2, "0x"), 0) << m;
    EXPECT_EQ(end.compare(0, 2, "0x"), 0) << m;
    EXPECT_EQ(offset.compare(0, 2, "0x"), 0) << m;
    EXPECT_FALSE(path.empty()) << m;
  }
  std::vector<std::string> threads = Starting(l, "thread ");
  ASSERT_EQ(threads.size(), 3u);
  EXPECT_EQ(threads[0],
            "thread tid=4243 name=mc%20worker state=blocked call=pthread_mutex_lock obj=0x5 "
            "blocked_ns=812345678 owner=4242 via=sweep kind=mutex");
  EXPECT_EQ(threads[1], "thread tid=4242 name=memcached state=running via=signal first=pc");
  EXPECT_EQ(threads[2], "thread tid=4244 name=given-up state=running via=timeout");
  // Frames: one hex address a line, innermost first, under their thread.
  auto at = [&](const std::string& s) {
    for (size_t i = 0; i < l.size(); ++i)
      if (l[i] == s) return i;
    return l.size();
  };
  size_t t0 = at(threads[0]), t1 = at(threads[1]), t2 = at(threads[2]);
  ASSERT_LT(t2, l.size());
  EXPECT_EQ(t1, t0 + 3);
  EXPECT_EQ(l[t0 + 1], "  0x7f12c0a1b2c3");
  EXPECT_EQ(l[t0 + 2], "  0x5600aa0123a4");
  EXPECT_EQ(l[t1 + 1], "  0x5600aa011111");
  EXPECT_EQ(t2, t1 + 2);
  EXPECT_EQ(l.back(), "end");
  EXPECT_EQ(t2 + 2, l.size()) << "an abandoned thread has no frames";
}

// Not listed: a member that never existed (omit) and one whose creation had
// not returned at stop 1 (no tid in its capture); `threads` counts the rest.
TEST_F(WriterTest, UnshownMembersAreNotCounted) {
  Record* r = nullptr;
  Member(5001, "omitted", &r)->via = kViaTimeout;
  r->omit = true;
  Member(5002, "unborn")->tid = 0;
  Capture* c = Member(5003, "shown");
  c->via = kViaSweep;
  c->kind = kRunning;
  std::vector<std::string> l = Write();
  EXPECT_EQ(Starting(l, "threads "), std::vector<std::string>{"threads 1"});
  EXPECT_EQ(Starting(l, "thread "),
            std::vector<std::string>{"thread tid=5003 name=shown state=running via=sweep"});
  EXPECT_EQ(l.back(), "end");
}

TEST_F(WriterTest, FileIsPrivateAndNamedByPidAndSequence) {
  Member(6001, "one")->via = kViaSweep;
  std::vector<std::string> l = Write();
  ASSERT_FALSE(l.empty());
  std::string name = path_.filename();
  std::string prefix = "threadsnap." + std::to_string(getpid()) + ".";
  EXPECT_EQ(name.compare(0, prefix.size(), prefix), 0) << name;
  EXPECT_EQ(name.substr(name.size() - 4), ".txt") << name;
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// The frame lines of a thread whose frames were kept from the dump before
// (the same frames_gen) are that dump's text, which the slot keeps; new
// frames (a new frames_gen) are formatted anew, and a stack too deep for
// the kept text is formatted every time. Addresses of every width, two
// hex digits at a time and an odd one first.
TEST_F(WriterTest, FrameLinesFollowTheFramesAcrossDumps) {
  Capture* c = Member(7001, "kept");
  c->via = kViaSweep;
  c->kind = kRunning;
  const std::vector<uintptr_t> first = {0x0, 0x1, 0xf0, 0x100, 0xabc, 0x7f12c0a1b2c3, ~uintptr_t{0}};
  auto fill = [&](const std::vector<uintptr_t>& frames, uint32_t frames_gen) {
    c->frames_gen = frames_gen;
    c->nframes = static_cast<uint32_t>(frames.size());
    for (size_t i = 0; i < frames.size(); ++i) c->frames[i] = frames[i];
  };
  auto frame_lines = [&]() {
    std::vector<std::string> l = Write();
    fs::remove(path_);
    std::vector<std::string> out = Starting(l, "  ");
    return out;
  };
  auto expected = [](const std::vector<uintptr_t>& frames) {
    std::vector<std::string> out;
    for (uintptr_t f : frames) {
      char b[32];
      snprintf(b, sizeof(b), "  0x%lx", static_cast<unsigned long>(f));
      out.push_back(b);
    }
    return out;
  };
  fill(first, kGen);
  EXPECT_EQ(frame_lines(), expected(first));
  EXPECT_EQ(frame_lines(), expected(first)) << "kept frames, kept text";
  std::vector<uintptr_t> second = first;  // as many frames, other addresses
  for (uintptr_t& f : second) f ^= 0x5600aa000000;
  fill(second, kGen + 1);  // a new capture's frames
  EXPECT_EQ(frame_lines(), expected(second));
  std::vector<uintptr_t> deep;
  for (uintptr_t i = 0; i < 100; ++i) deep.push_back(0x7f0000000000 + i * 0x1111);
  ASSERT_GT(deep.size() * 16, sizeof(c->text)) << "more than the slot keeps as text";
  fill(deep, kGen + 2);
  EXPECT_EQ(frame_lines(), expected(deep));
  EXPECT_EQ(frame_lines(), expected(deep));
  fill(first, kGen + 3);
  EXPECT_EQ(frame_lines(), expected(first));
}

}  // namespace
