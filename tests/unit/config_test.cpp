// Unit tests of the option table: good values are taken, bad ones give the
// default (the program is never stopped by a bad setting).
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>

#include "preload/config.h"

using namespace threadsnap::detail;

namespace {

class ConfigTest : public ::testing::Test {
 protected:
  // Warnings are read from stderr here (by default they go to a log file).
  void SetUp() override { setenv("THREADSNAP_LOG", "stderr", 1); }
  void TearDown() override {
    for (const char* n : {"THREADSNAP_LOG", "THREADSNAP_DIR", "THREADSNAP_SIGNAL", "THREADSNAP_MODE",
                          "THREADSNAP_UNWIND", "THREADSNAP_MAX_FRAMES",
                          "THREADSNAP_STOP_TIMEOUT_MS", "THREADSNAP_QUIET", "THREADSNAP_STACK_KB"})
      unsetenv(n);
    config_load();
  }
};

TEST_F(ConfigTest, DefaultsWhenUnset) {
  config_load();
  EXPECT_EQ(g_config.trigger_signal, SIGUSR2);
  EXPECT_TRUE(g_config.concurrent);
  EXPECT_FALSE(g_config.unwind_fp);
  EXPECT_EQ(g_config.max_frames, 128);
  EXPECT_EQ(g_config.stop_timeout_ms, 1000);
  EXPECT_EQ(g_config.stack_copy_bytes, 64u * 1024);
}

TEST_F(ConfigTest, GoodValuesAreTaken) {
  setenv("THREADSNAP_DIR", "/var/tmp", 1);
  setenv("THREADSNAP_SIGNAL", "SIGUSR1", 1);
  setenv("THREADSNAP_MODE", "stw", 1);
  setenv("THREADSNAP_UNWIND", "fp", 1);
  setenv("THREADSNAP_MAX_FRAMES", "64", 1);
  setenv("THREADSNAP_STOP_TIMEOUT_MS", "250", 1);
  setenv("THREADSNAP_STACK_KB", "16", 1);
  config_load();
  EXPECT_STREQ(g_config.dir, "/var/tmp");
  EXPECT_EQ(g_config.trigger_signal, SIGUSR1);
  EXPECT_FALSE(g_config.concurrent);
  EXPECT_TRUE(g_config.unwind_fp);
  EXPECT_EQ(g_config.max_frames, 64);
  EXPECT_EQ(g_config.stop_timeout_ms, 250);
  EXPECT_EQ(g_config.stack_copy_bytes, 16u * 1024);
}

TEST_F(ConfigTest, GarbageGivesDefaults) {
  const char* bad[][2] = {
      {"THREADSNAP_DIR", "relative/dir"},     {"THREADSNAP_SIGNAL", "SIGKILL"},
      {"THREADSNAP_MODE", "fast"},            {"THREADSNAP_UNWIND", ""},
      {"THREADSNAP_MAX_FRAMES", "banana"},    {"THREADSNAP_STOP_TIMEOUT_MS", "-5"},
      {"THREADSNAP_STACK_KB", "99999999999999999999"},
  };
  for (auto& kv : bad) setenv(kv[0], kv[1], 1);
  testing::internal::CaptureStderr();
  config_load();
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(g_config.trigger_signal, SIGUSR2);
  EXPECT_TRUE(g_config.concurrent);
  EXPECT_FALSE(g_config.unwind_fp);
  EXPECT_EQ(g_config.max_frames, 128);
  EXPECT_EQ(g_config.stop_timeout_ms, 1000);
  EXPECT_EQ(g_config.stack_copy_bytes, 64u * 1024);
  EXPECT_NE(g_config.dir[0], 'r');
  for (auto& kv : bad) {
    std::string needle = std::string("threadsnap: warning: ") + kv[0] + "=";
    size_t first = err.find(needle);
    EXPECT_NE(first, std::string::npos) << kv[0];
    EXPECT_EQ(err.find(needle, first + 1), std::string::npos) << "warned twice: " << kv[0];
  }
}

TEST_F(ConfigTest, UnknownVariableIsNamed) {
  setenv("THREADSNAP_MDOE", "stw", 1);
  testing::internal::CaptureStderr();
  config_load();
  std::string err = testing::internal::GetCapturedStderr();
  unsetenv("THREADSNAP_MDOE");
  EXPECT_NE(err.find("unknown variable THREADSNAP_MDOE"), std::string::npos) << err;
  EXPECT_TRUE(g_config.concurrent);
}

TEST(SignalNames, NamesAndNumbers) {
  EXPECT_EQ(parse_signal_name("SIGUSR2"), SIGUSR2);
  EXPECT_EQ(parse_signal_name("USR1"), SIGUSR1);
  EXPECT_EQ(parse_signal_name("10"), 10);
  EXPECT_EQ(parse_signal_name("RTMIN+2"), SIGRTMIN + 2);
  EXPECT_EQ(parse_signal_name("SIGNOPE"), 0);
  EXPECT_EQ(parse_signal_name("65"), 0);
}

}  // namespace
