#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "harness/measure/measurements.h"

namespace coder::harness {

/// How much of a hung tree a snapshot keeps: a server of thousands of threads or sockets gets a
/// bounded record, with the rest counted.
struct HangSnapshotLimits {
  size_t max_processes = 16;
  size_t max_threads = 64;   ///< per process
  size_t max_sockets = 256;  ///< of the whole tree
};

/// Reads the threads and open sockets of `pids` (leader first) from /proc: nothing is attached or
/// paused, so it is safe at any moment and costs milliseconds. `launched` is the run's launch, which
/// at_ms counts from; `taken_at` says which moment this is. The verdict is left empty. Thread-safe.
HangSnapshot TakeHangSnapshot(const std::vector<pid_t>& pids, std::chrono::steady_clock::time_point launched,
                              std::string taken_at, const HangSnapshotLimits& limits = {});

}  // namespace coder::harness
