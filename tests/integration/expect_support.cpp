// threadsnap integration-test harness: the gtest expectations and small
// helpers that several test files share (declared in harness.h), written once.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <sstream>

#include "integration/harness.h"

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

}  // namespace threadsnap::testing
