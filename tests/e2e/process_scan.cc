#include "tests/e2e/process_scan.h"

#include <unistd.h>

#include "harness/process/proc_fs.h"

namespace coder::e2e {

std::vector<pid_t> ProcessesWith(const std::string& marker) {
  std::vector<pid_t> found;
  for (pid_t pid : harness::ListPids()) {
    if (pid == ::getpid()) continue;
    const auto cmdline = harness::ReadSmallFile("/proc/" + std::to_string(pid) + "/cmdline");
    if (!cmdline || cmdline->find(marker) == std::string::npos) continue;
    const auto stat = harness::ReadProcStat(pid);
    if (stat && !stat->dead()) found.push_back(pid);
  }
  return found;
}

}  // namespace coder::e2e
