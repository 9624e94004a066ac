// threadsnap integration-test harness: what /proc says of a test program's
// threads (declared in harness.h).
#include "integration/harness.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>

#include "integration/text_util.h"

namespace threadsnap::testing {

// ---- /proc ---------------------------------------------------------------------------

std::vector<pid_t> TaskIds(pid_t pid) {
  std::vector<pid_t> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] >= '0' && e->d_name[0] <= '9') out.push_back(atoi(e->d_name));
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

char TaskState(pid_t pid, pid_t tid) {
  std::string s = ReadFile("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/stat");
  size_t p = s.rfind(')');
  if (p == std::string::npos || p + 2 >= s.size()) return 0;
  return s[p + 2];
}

long TaskSyscall(pid_t pid, pid_t tid) {
  std::string s =
      ReadFile("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/syscall");
  if (s.empty()) return -2;
  if (s.rfind("running", 0) == 0) return -1;
  return strtol(s.c_str(), nullptr, 10);
}


bool WaitSleeping(pid_t pid, const std::vector<pid_t>& tids, milliseconds timeout) {
  return WaitUntil(
      [&] {
        for (pid_t t : tids) {
          char s = TaskState(pid, t);
          if (s != 'S' && s != 'D') return false;
        }
        return true;
      },
      timeout, milliseconds(5));
}

}  // namespace threadsnap::testing
