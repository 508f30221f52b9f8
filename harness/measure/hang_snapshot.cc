#include "harness/measure/hang_snapshot.h"

#include <utility>

namespace coder::harness {

HangSnapshot TakeHangSnapshot(const std::vector<pid_t>& pids, std::chrono::steady_clock::time_point launched,
                              std::string taken_at, const HangSnapshotLimits& limits) {
  HangSnapshot s;
  s.at_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - launched).count();
  s.taken_at = std::move(taken_at);
  std::vector<pid_t> kept = pids;
  if (kept.size() > limits.max_processes) {
    s.processes_omitted = kept.size() - limits.max_processes;
    kept.resize(limits.max_processes);
  }
  for (pid_t pid : kept) {
    ProcessThreads p = ThreadsOf(pid, limits.max_threads);
    if (!p.threads.empty()) s.processes.push_back(std::move(p));  // one that exited meanwhile is gone
  }
  // The sockets of every process, also those past the process limit: a worker's connection is the
  // answer as often as the leader's.
  SocketInventory inventory = SocketsOf(pids, limits.max_sockets);
  s.sockets = std::move(inventory.sockets);
  s.sockets_omitted = inventory.omitted;
  return s;
}

}  // namespace coder::harness
