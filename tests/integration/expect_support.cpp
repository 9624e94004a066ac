// threadsnap integration-test harness: what a test expects of a dump (the
// programs' EXPECT lines checked against it) and the gtest expectations and
// small helpers that several test files share (declared in harness.h).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <sstream>

#include "integration/harness.h"
#include "integration/text_util.h"

namespace threadsnap::testing {

std::string JoinLines(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

std::vector<std::pair<std::string, pid_t>> TidLines(Process& p, size_t from) {
  std::vector<std::pair<std::string, pid_t>> out;
  auto lines = p.Lines();
  for (size_t i = from; i < lines.size(); i++) {
    std::istringstream in(lines[i]);
    std::string w, name;
    pid_t tid = 0;
    if (in >> w >> name >> tid && w == "tid" && tid > 0) out.emplace_back(name, tid);
  }
  return out;
}

std::set<pid_t> AllTids(Process& p, size_t from) {
  std::set<pid_t> out;
  for (auto& [n, t] : TidLines(p, from)) out.insert(t);
  return out;
}

std::vector<std::string> FailLines(Process& p) {
  std::vector<std::string> out;
  for (auto& l : p.Lines())
    if (l.rfind("FAIL", 0) == 0) out.push_back(l);
  return out;
}

void ExpectCleanExit(Process& p, const std::string& quit, milliseconds timeout) {
  if (!quit.empty()) p.Write(quit);
  p.CloseStdin();
  int st = -1;
  ASSERT_TRUE(p.WaitExit(timeout, &st)) << "program did not exit\n" << p.DescribeHang();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
      << "exit status 0x" << std::hex << st << std::dec
      << (WIFSIGNALED(st) ? " (killed by signal " + std::to_string(WTERMSIG(st)) + ")" : "")
      << "\nFAIL lines:\n" << JoinLines(FailLines(p)) << "stderr:\n" << p.Stderr();
}

void ExpectCleanExit(Process& p, milliseconds timeout) { ExpectCleanExit(p, "", timeout); }

// ---- expectations ---------------------------------------------------------------------

bool ParseExpectation(const std::string& line, Expectation* e) {
  auto w = Words(line);
  if ((w.size() != 7 && w.size() != 8) || w[0] != "expect") return false;
  e->fields.clear();
  if (w.size() == 8 && w[7] != "-") {
    for (const auto& kv : Split(w[7], ',')) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos) return false;
      e->fields[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  e->name = w[1];
  e->tid = atoi(w[2].c_str());
  e->state = w[3];
  e->call = w[4] == "-" ? "" : w[4];
  e->obj.reset();
  uint64_t v;
  if (w[5] != "-") {
    if (!ParseU64(w[5], &v)) return false;
    e->obj = v;
  }
  std::string chain = w[6];
  e->chain_at_top = !chain.empty() && chain[0] == '^';
  if (e->chain_at_top) chain = chain.substr(1);
  e->chain = Split(chain, ',');
  return e->tid > 0;
}

std::string CheckThread(const Dump& d, Symbolizer& sym, const ThreadRecord& t,
                        const Expectation& e, const std::string& mode,
                        const std::string& want_via_override) {
  std::ostringstream err;
  if (t.name != e.name) err << "name '" << t.name << "' != '" << e.name << "'; ";
  if (t.state != e.state) err << "state " << t.state << " != " << e.state << "; ";
  if (e.state == "blocked") {
    if (t.call != e.call) err << "call '" << t.call << "' != '" << e.call << "'; ";
    if (e.obj) {
      if (!t.obj)
        err << "no obj (expected 0x" << std::hex << *e.obj << std::dec << "); ";
      else if (*t.obj != *e.obj)
        err << "obj 0x" << std::hex << *t.obj << " != 0x" << *e.obj << std::dec << "; ";
    }
    if (!t.blocked_ns) err << "no blocked_ns; ";
    std::string want_via = !want_via_override.empty() ? want_via_override
                           : mode == "stw"            ? "stw"
                                                      : "sweep";
    if (t.via != want_via) err << "via=" << t.via << " (expected " << want_via << "); ";
  } else {
    if (t.fields.count("call")) err << "running thread has call=" << t.call << "; ";
    std::string want_via = !want_via_override.empty() ? want_via_override
                           : mode == "stw"            ? "stw"
                                                      : "signal";
    if (t.via != want_via) err << "via=" << t.via << " (expected " << want_via << "); ";
  }
  for (const auto& [k, v] : e.fields) {
    auto it = t.fields.find(k);
    if (it == t.fields.end())
      err << "no " << k << "= (expected " << v << "); ";
    else if (it->second != v)
      err << k << "=" << it->second << " != " << v << "; ";
  }
  auto names = sym.Names(t);
  int at = FindChain(names, e.chain);
  if (at < 0 || (e.chain_at_top && at != 0)) {
    err << "chain ";
    for (auto& c : e.chain) err << c << " ";
    err << (at < 0 ? "not found" : "not at frame 0") << "; ";
  }
  if (HasLibraryFrame(d, t)) err << "shows a frame inside libthreadsnap; ";
  std::string s = err.str();
  if (!s.empty()) s = "thread " + e.name + ": " + s + "\n" + sym.Describe(t);
  return s;
}


std::string CheckExpectedDump(Process& p, const std::string& mode, Dump* out,
                              milliseconds timeout) {
  std::vector<Expectation> exps = p.Expectations();
  if (exps.empty()) return "the program printed no expect lines";
  std::vector<pid_t> blocked;
  for (const auto& e : exps)
    if (e.state == "blocked") blocked.push_back(e.tid);
  if (!WaitSleeping(p.pid(), blocked, timeout)) return "the blocked threads never all slept";
  std::string err;
  // A blocked thread's chain is fixed once it is in its call; a running one
  // may not have reached its loop yet, so wait for its chain too.
  auto matches = [&](const Dump& d) {
    Symbolizer sym(d);
    for (const auto& e : exps) {
      const ThreadRecord* t = d.FindTid(e.tid);
      if (!t || t->state != e.state || (e.state == "blocked" && t->call != e.call)) return false;
      if (e.state == "running" && FindChain(sym.Names(*t), e.chain) < 0) return false;
    }
    return true;
  };
  bool reached = DumpUntil(p, matches, out, &err, timeout);
  if (!out->has_end) return "no dump: " + err;
  std::ostringstream os;
  if (!reached) os << "threads never all showed their expected state/call (" << err << ")\n";
  std::string wf = out->CheckWellFormed();
  if (!wf.empty()) os << "malformed dump: " << wf << "\n";
  if (out->HeaderU64("pid") != static_cast<uint64_t>(p.pid()))
    os << "header pid " << out->header["pid"] << " != " << p.pid() << "\n";
  if (RealPath(out->header["exe"]) != RealPath(p.program_path()))
    os << "header exe " << out->header["exe"] << " != " << p.program_path() << "\n";
  if (out->header["mode"] != mode) os << "header mode " << out->header["mode"] << " != " << mode << "\n";
  for (const char* k : {"stop1_ns", "sweep_ns", "stop2_ns"})
    if (!out->header.count(k)) os << "no header " << k << "\n";
  std::set<pid_t> want;
  for (const auto& e : exps) want.insert(e.tid);
  for (const auto& t : out->threads)
    if (!want.count(t.tid)) os << "unexpected thread listed: " << t.line << "\n";
  Symbolizer sym(*out);
  for (const auto& e : exps) {
    const ThreadRecord* t = out->FindTid(e.tid);
    if (!t) {
      os << "thread " << e.name << " (tid " << e.tid << ") missing\n";
      continue;
    }
    os << CheckThread(*out, sym, *t, e, mode);
  }
  std::string s = os.str();
  if (!s.empty()) s += "dump: " + out->path + "\n";
  return s;
}

}  // namespace threadsnap::testing
