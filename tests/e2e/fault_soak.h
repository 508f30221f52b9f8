#pragma once

// Fault injection against the real `coder diag shutdown`: seeded random mixes of misbehaving calibrated
// targets, each with the outcome the harness must report, and the harness itself killed at random points.
// No gtest here: the same code runs a fast subset in coder_e2e_tests and the long soak in the fault_soak
// program (scripts/soak).

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace coder::e2e::soak {

/// Harness flags every invocation gets, and the target delays that must fall on the right side of them.
/// The margins are wide (a loaded 2-core machine stretches every delay): a clean stop takes
/// milliseconds against a slow threshold of hundreds.
struct Timing {
  std::chrono::milliseconds ready_timeout{800};
  std::chrono::milliseconds kill_after{1000};
  std::chrono::milliseconds slow_threshold{300};
  std::chrono::milliseconds slow_exit{600};        ///< the slow kind's delay after the signal
  std::chrono::milliseconds early_exit_hold{300};  ///< the hold that lets a target exit before the signal
  /// Flood output is read by the harness before the ready line: a flooding invocation gets this much
  /// more ready timeout per MiB (and no never-ready kind, which would wait all of it).
  std::chrono::milliseconds ready_timeout_per_flood_mib{100};
};

/// One kind of target behaviour and what the harness must call it.
struct FaultKind {
  std::string name;
  std::string expected;              ///< the outcome as the JSON names it: clean, slow, crashed, ...
  bool needs_hold = false;           ///< exits by itself right after ready: judged only when a hold follows
  bool escapes_group = false;        ///< leaves a daemon outside its process group
  bool floods = false;               ///< prints hundreds of MB before it is ready
  bool waits_ready_timeout = false;  ///< never ready: costs the whole ready timeout
  bool long_running = false;         ///< takes hundreds of ms or more (slow, hangs, never ready)
  std::string fingerprint;           ///< a fingerprint every run of this kind must carry, if any
};

/// Every kind the soak draws from.
const std::vector<FaultKind>& FaultKinds();

struct SoakOptions {
  uint64_t seed = 1;
  int runs = 40;  ///< target runs in total (the last invocation may overshoot)
  uint64_t min_flood_bytes = 1 << 20;
  uint64_t max_flood_bytes = 300ull << 20;
  uint64_t harness_rss_limit_bytes = 100ull << 20;
  Timing timing;
  std::string coder = CODER_BINARY_PATH;
  std::string target = CALIBRATED_TARGET_PATH;
  std::ostream* log = nullptr;  ///< one line per invocation when set
};

struct SoakReport {
  uint64_t seed = 0;
  int invocations = 0;
  int runs = 0;
  std::map<std::string, int> runs_per_kind;
  int misclassified = 0;
  int leftovers = 0;                    ///< processes still alive after their invocation ended
  uint64_t harness_peak_rss_bytes = 0;  ///< the largest over all invocations
  uint64_t largest_flood_bytes = 0;
  double wall_seconds = 0;
  std::vector<std::string> problems;  ///< each names its invocation and its command line

  bool ok() const { return problems.empty(); }
  /// A multi-line summary: seed, runs per kind, misclassifications, leftovers, peak RSS, wall time, problems.
  std::string Summary() const;
};

/// Runs random invocations until `options.runs` target runs are done. Deterministic in the seed (the
/// mixes, not the timings). Never throws; every failure is a problem in the report.
SoakReport RunSoak(const SoakOptions& options);

/// The harness itself stopped at a random point: after its Nth finished run (N random, 0 = as soon as
/// it is running) and a random delay, `signal` goes to `coder diag shutdown`.
struct KillOptions {
  uint64_t seed = 1;
  int signal = 2;
  Timing timing;
  std::string coder = CODER_BINARY_PATH;
  std::string target = CALIBRATED_TARGET_PATH;
};

struct KillReport {
  int signal = 0;
  std::vector<std::string> command;
  std::string exit;
  int waited_for_runs = 0;  ///< N
  std::chrono::milliseconds delay{0};
  int finished_runs = 0;  ///< in the JSON lines file
  std::vector<std::string> problems;
  std::string Summary() const;
};

/// One kill round: launches a mix long enough not to finish first, kills the harness at the random
/// point, and checks that no target survives it, the JSON lines file is intact (every line whole and
/// parsed, each run once, each outcome right), and for SIGINT/SIGTERM the exit status 130 and a JSON
/// report marked interrupted holding exactly the runs of the JSON lines file. Daemons that left their
/// process group are left out of SIGKILL rounds: nothing survives a SIGKILL to clean them up.
KillReport RunKillRound(const KillOptions& options);

}  // namespace coder::e2e::soak
