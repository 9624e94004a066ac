// threadsnap: configuration from THREADSNAP_* environment variables.
//
// Read once, at start-up (config_load), before any thread is signalled; never
// changed afterwards, so every reader may use it without synchronization.
// A bad value is reported once on stderr, naming the variable, and the
// default is used: a bad setting never stops the program.
#pragma once

#include <climits>
#include <cstddef>

namespace threadsnap::detail {

struct Config {
  char dir[PATH_MAX];        // THREADSNAP_DIR
  int trigger_signal;        // THREADSNAP_SIGNAL; 0 = no signal trigger
  bool concurrent;           // THREADSNAP_MODE: concurrent (true) or stw
  bool unwind_fp;            // THREADSNAP_UNWIND: fp (true) or dwarf
  int max_frames;            // THREADSNAP_MAX_FRAMES
  int stop_timeout_ms;       // THREADSNAP_STOP_TIMEOUT_MS
  bool quiet;                // THREADSNAP_QUIET
  int log_to;                // THREADSNAP_LOG: kLogFile, kLogStderr or kLogNone
  size_t stack_copy_bytes;   // THREADSNAP_STACK_KB: stack bytes copied per thread
  int test_sweep_delay_ms;   // THREADSNAP_TEST_SWEEP_DELAY_MS (tests only)
  bool test_torn;            // THREADSNAP_TEST_TORN (tests only: no cut)
  bool test_named_temp;      // THREADSNAP_TEST_NAMED_TEMP (tests only: no O_TMPFILE)
  int test_write_delay_ms;   // THREADSNAP_TEST_WRITE_DELAY_MS (tests only: pause before naming)
  int test_claim_stall_ms;   // THREADSNAP_TEST_CLAIM_STALL_MS (tests only: a self-claim stalls)
  bool test_claim_unmarked;  // THREADSNAP_TEST_CLAIM_UNMARKED (tests only: ...before it is marked ours)
  bool test_frozen_blind;    // THREADSNAP_TEST_FROZEN_BLIND (tests only: every late thread "frozen")
  bool test_frozen_no_sigblk;  // THREADSNAP_TEST_FROZEN_NO_SIGBLK (tests only: verdicts skip SigBlk)
  bool test_unwind_check;    // THREADSNAP_TEST_UNWIND_CHECK (tests only: rules checked against libunwind)
  bool test_no_wipeonfork;   // THREADSNAP_TEST_NO_WIPEONFORK (tests only: fork children reset g_local by writing)
  int test_reuse;            // THREADSNAP_TEST_REUSE (tests only): kReuse*
};

// THREADSNAP_TEST_REUSE: frames of a thread still blocked in the very call
// of the previous dump are kept (normal), never kept (off: the baseline), or
// kept whenever tid and call match (blind: a negative control for the tests).
enum ReuseMode { kReuseNormal = 0, kReuseOff = 1, kReuseBlind = 2 };

enum LogTo { kLogFile = 0, kLogStderr = 1, kLogNone = 2 };

extern Config g_config;

inline constexpr int kMaxFramesLimit = 1024;

// Parses the environment into g_config. Ordinary context (getenv), once.
void config_load();

// Signal name or number ("SIGUSR2", "USR2", "12") to a number; 0 if unknown.
int parse_signal_name(const char* s);

}  // namespace threadsnap::detail
