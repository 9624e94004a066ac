// threadsnap: the THREADSNAP_* options as one table, parsed once.
#include "preload/config.h"

#include <csignal>
#include <cstdlib>
#include <cstring>

#include "preload/common.h"

extern char** environ;

namespace threadsnap::detail {

Config g_config;

namespace {

bool parse_long(const char* s, long lo, long hi, long* out) {
  if (!s || !*s) return false;
  char* end = nullptr;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool set_dir(const char* v) {
  size_t n = strlen(v);
  if (n == 0 || n > 900 || v[0] != '/') return false;
  memcpy(g_config.dir, v, n + 1);
  return true;
}
bool set_signal(const char* v) {
  if (strcmp(v, "none") == 0) { g_config.trigger_signal = 0; return true; }
  int sig = parse_signal_name(v);
  // SIGKILL/SIGSTOP cannot be caught; 32 and 33 belong to glibc.
  if (sig <= 0 || sig == SIGKILL || sig == SIGSTOP || sig == 32 || sig == 33) return false;
  g_config.trigger_signal = sig;
  return true;
}
bool set_mode(const char* v) {
  if (strcmp(v, "concurrent") == 0) g_config.concurrent = true;
  else if (strcmp(v, "stw") == 0) g_config.concurrent = false;
  else return false;
  return true;
}
bool set_unwind(const char* v) {
  if (strcmp(v, "dwarf") == 0) g_config.unwind_fp = false;
  else if (strcmp(v, "fp") == 0) g_config.unwind_fp = true;
  else return false;
  return true;
}
bool set_max_frames(const char* v) {
  long n;
  if (!parse_long(v, 1, kMaxFramesLimit, &n)) return false;
  g_config.max_frames = static_cast<int>(n);
  return true;
}
bool set_stop_timeout(const char* v) {
  long n;
  if (!parse_long(v, 1, 600000, &n)) return false;
  g_config.stop_timeout_ms = static_cast<int>(n);
  return true;
}
bool set_log(const char* v) {
  if (strcmp(v, "file") == 0) g_config.log_to = kLogFile;
  else if (strcmp(v, "stderr") == 0) g_config.log_to = kLogStderr;
  else if (strcmp(v, "none") == 0) g_config.log_to = kLogNone;
  else return false;
  return true;
}
bool set_quiet(const char* v) {
  g_config.quiet = !(strcmp(v, "0") == 0 || strcmp(v, "") == 0);
  return true;
}
bool set_stack_kb(const char* v) {
  long n;
  if (!parse_long(v, 4, 1024, &n)) return false;
  g_config.stack_copy_bytes = static_cast<size_t>(n) * 1024;
  return true;
}
// The test knobs: a delay in ms (0-60000), or a 0/1 switch.
bool set_test_ms(const char* v, int* out) {
  long n;
  if (!parse_long(v, 0, 60000, &n)) return false;
  *out = static_cast<int>(n);
  return true;
}
bool set_test_switch(const char* v, bool* out) {
  if (strcmp(v, "1") != 0 && strcmp(v, "0") != 0) return false;
  *out = v[0] == '1';
  return true;
}
bool set_sweep_delay(const char* v) { return set_test_ms(v, &g_config.test_sweep_delay_ms); }
bool set_write_delay(const char* v) { return set_test_ms(v, &g_config.test_write_delay_ms); }
bool set_torn(const char* v) { return set_test_switch(v, &g_config.test_torn); }
bool set_named_temp(const char* v) { return set_test_switch(v, &g_config.test_named_temp); }
bool set_claim_stall(const char* v) { return set_test_ms(v, &g_config.test_claim_stall_ms); }
bool set_claim_unmarked(const char* v) { return set_test_switch(v, &g_config.test_claim_unmarked); }
bool set_frozen_blind(const char* v) { return set_test_switch(v, &g_config.test_frozen_blind); }
bool set_frozen_no_sigblk(const char* v) { return set_test_switch(v, &g_config.test_frozen_no_sigblk); }
bool set_no_wipeonfork(const char* v) { return set_test_switch(v, &g_config.test_no_wipeonfork); }
bool set_unwind_check(const char* v) { return set_test_switch(v, &g_config.test_unwind_check); }
bool set_reuse(const char* v) {
  if (strcmp(v, "normal") == 0) g_config.test_reuse = kReuseNormal;
  else if (strcmp(v, "off") == 0) g_config.test_reuse = kReuseOff;
  else if (strcmp(v, "blind") == 0) g_config.test_reuse = kReuseBlind;
  else return false;
  return true;
}

struct Option {
  const char* name;
  const char* default_text;  // for the warning
  bool (*set)(const char*);
};

// The whole set of options: name, default (as the warning prints it), parser.
const Option kOptions[] = {
    {"THREADSNAP_DIR", "$TMPDIR or /tmp", set_dir},
    {"THREADSNAP_SIGNAL", "SIGUSR2", set_signal},
    {"THREADSNAP_MODE", "concurrent", set_mode},
    {"THREADSNAP_UNWIND", "dwarf", set_unwind},
    {"THREADSNAP_MAX_FRAMES", "128", set_max_frames},
    {"THREADSNAP_STOP_TIMEOUT_MS", "1000", set_stop_timeout},
    {"THREADSNAP_QUIET", "unset", set_quiet},
    {"THREADSNAP_LOG", "file", set_log},
    {"THREADSNAP_STACK_KB", "64", set_stack_kb},
    {"THREADSNAP_TEST_SWEEP_DELAY_MS", "0", set_sweep_delay},
    {"THREADSNAP_TEST_TORN", "0", set_torn},
    {"THREADSNAP_TEST_NAMED_TEMP", "0", set_named_temp},
    {"THREADSNAP_TEST_WRITE_DELAY_MS", "0", set_write_delay},
    {"THREADSNAP_TEST_CLAIM_STALL_MS", "0", set_claim_stall},
    {"THREADSNAP_TEST_CLAIM_UNMARKED", "0", set_claim_unmarked},
    {"THREADSNAP_TEST_FROZEN_BLIND", "0", set_frozen_blind},
    {"THREADSNAP_TEST_FROZEN_NO_SIGBLK", "0", set_frozen_no_sigblk},
    {"THREADSNAP_TEST_NO_WIPEONFORK", "0", set_no_wipeonfork},
    {"THREADSNAP_TEST_UNWIND_CHECK", "0", set_unwind_check},
    {"THREADSNAP_TEST_REUSE", "normal", set_reuse},
};

void set_defaults() {
  const char* tmp = getenv("TMPDIR");
  if (!tmp || tmp[0] != '/' || strlen(tmp) > 900) tmp = "/tmp";
  strcpy(g_config.dir, tmp);
  g_config.trigger_signal = SIGUSR2;
  g_config.concurrent = true;
  g_config.unwind_fp = false;
  g_config.max_frames = 128;
  g_config.stop_timeout_ms = 1000;
  g_config.quiet = false;
  g_config.log_to = kLogFile;
  g_config.stack_copy_bytes = 64 * 1024;
  g_config.test_sweep_delay_ms = 0;
  g_config.test_torn = false;
  g_config.test_named_temp = false;
  g_config.test_write_delay_ms = 0;
  g_config.test_claim_stall_ms = 0;
  g_config.test_claim_unmarked = false;
  g_config.test_frozen_blind = false;
  g_config.test_frozen_no_sigblk = false;
  g_config.test_no_wipeonfork = false;
  g_config.test_unwind_check = false;
  g_config.test_reuse = kReuseNormal;
}

}  // namespace

int parse_signal_name(const char* s) {
  long n;
  if (parse_long(s, 1, 64, &n)) return static_cast<int>(n);
  if (strncmp(s, "SIG", 3) == 0) s += 3;
  static const struct { const char* name; int sig; } kNames[] = {
      {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"USR1", SIGUSR1},
      {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM},
      {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
      {"TTOU", SIGTTOU}, {"URG", SIGURG},   {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
      {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
      {"PWR", SIGPWR},   {"SYS", SIGSYS},
  };
  for (const auto& e : kNames)
    if (strcmp(s, e.name) == 0) return e.sig;
  if (strncmp(s, "RTMIN+", 6) == 0 && parse_long(s + 6, 0, 30, &n)) return SIGRTMIN + static_cast<int>(n);
  if (strncmp(s, "RTMAX-", 6) == 0 && parse_long(s + 6, 0, 30, &n)) return SIGRTMAX - static_cast<int>(n);
  return 0;
}

void config_load() {
  int saved = errno;
  set_defaults();
  // Where the warnings below go depends on these two: set them first.
  if (const char* v = getenv("THREADSNAP_DIR")) set_dir(v);
  if (const char* v = getenv("THREADSNAP_LOG")) set_log(v);
  log_reset();
  for (const Option& o : kOptions) {
    const char* v = getenv(o.name);
    if (v && !o.set(v)) {
      // Quote a long value only in part, so the verdict stays on the line.
      char quoted[72];
      size_t n = strlen(v);
      memcpy(quoted, v, n < 64 ? n : 64);
      quoted[n < 64 ? n : 64] = 0;
      Line l;
      l.s("warning: ").s(o.name).s("='").s(quoted);
      if (n > 64) l.s("...' (").u(n).s(" bytes)");
      else l.s("'");
      l.s(" is not valid; using the default (").s(o.default_text).s(")");
      log_line(l);
    }
  }
  // A misspelt name is as bad as a bad value: say so, once each.
  for (char** e = environ; e && *e; ++e) {
    if (strncmp(*e, "THREADSNAP_", 11) != 0) continue;
    const char* eq = strchr(*e, '=');
    size_t n = eq ? static_cast<size_t>(eq - *e) : strlen(*e);
    bool known = false;
    for (const Option& o : kOptions)
      if (strlen(o.name) == n && strncmp(o.name, *e, n) == 0) known = true;
    // Variables of the launcher and the tests, not of the library.
    static const char* kOthers[] = {"THREADSNAP_LIB", "THREADSNAP_PROGRAMS", "THREADSNAP_TOP"};
    for (const char* o : kOthers)
      if (strlen(o) == n && strncmp(o, *e, n) == 0) known = true;
    if (!known) {
      Line l;
      l.s("warning: unknown variable ");
      for (size_t i = 0; i < n && i < 64; ++i) l.c((*e)[i]);
      l.s(" is ignored");
      log_line(l);
    }
  }
  errno = saved;
}

}  // namespace threadsnap::detail
