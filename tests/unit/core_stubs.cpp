// The unit tests link the library's core (base/, unwind/, preload/ without
// entry.cpp) and none of shim/: no constructor of ours runs in the test
// process, no dumper thread starts, nothing of libc is interposed, and a
// test that moves g_gen or g_busy moves only the state it tests. These
// stand in for the composition root's few symbols the core names
// (preload/entry.h), and a global test environment does the part of the
// constructor the core needs: the configuration, from a clean environment,
// and the registry's slots sized from it (ensure_init's order).
#include <gtest/gtest.h>

#include <cstdlib>

#include "preload/config.h"
#include "preload/entry.h"
#include "preload/registry.h"

namespace threadsnap::detail {

std::atomic<int> g_stop_signal{0};     // no stop signal: nothing is signalled
std::atomic<int> g_trigger_signal{0};  // no trigger
pid_t dumper_tid() { return 0; }       // no dumper
void request_dump(uintptr_t, bool) {}
void note_no_program_threads() {}

}  // namespace threadsnap::detail

namespace {

class CoreEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    using namespace threadsnap::detail;
    for (const char* v : {"THREADSNAP_DIR", "THREADSNAP_SIGNAL", "THREADSNAP_MODE",
                          "THREADSNAP_UNWIND", "THREADSNAP_MAX_FRAMES", "THREADSNAP_STACK_KB",
                          "THREADSNAP_STOP_TIMEOUT_MS", "THREADSNAP_QUIET", "THREADSNAP_LOG"})
      unsetenv(v);
    setenv("THREADSNAP_LOG", "none", 1);  // a unit test writes no log file
    config_load();
    registry_configure(g_config.stack_copy_bytes, static_cast<uint32_t>(g_config.max_frames));
  }
};

const auto* const g_env = ::testing::AddGlobalTestEnvironment(new CoreEnvironment);

}  // namespace
