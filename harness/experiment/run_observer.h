#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "harness/process/output_log.h"

namespace coder::harness {

/// Where a run in flight is.
enum class RunPhase {
  kLaunching,        ///< starting the target
  kWaitingForReady,  ///< launched, not ready yet ("starting")
  kHolding,          ///< ready, holding before the stop signal (--hold)
  kStopping,         ///< the stop signal was sent; waiting for the exit
  kFinished,         ///< measured (or interrupted): no longer in flight
};
/// "launching", "starting", "holding", "stopping", "finished".
constexpr std::string_view ToString(RunPhase phase) {
  switch (phase) {
    case RunPhase::kLaunching: return "launching";
    case RunPhase::kWaitingForReady: return "starting";
    case RunPhase::kHolding: return "holding";
    case RunPhase::kStopping: return "stopping";
    case RunPhase::kFinished: return "finished";
  }
  return "unknown";
}

/// Live events of the runs in flight, for the progress line and --show-output. ExecuteRun calls it for
/// many runs at once, OnPhase from the run's thread and OnOutput from its target's output reader:
/// implementations must be thread-safe, and quick (OnOutput delays the reading of that target's pipes).
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  /// Run `index` of `variant` entered `phase` at `since`. A run that reported kLaunching reports kFinished
  /// on every path out of ExecuteRun, an interrupted one included; phases only move forward.
  virtual void OnPhase(const std::string& variant, int index, RunPhase phase,
                       std::chrono::steady_clock::time_point since) = 0;
  /// One line the run's target printed, as soon as it was read.
  virtual void OnOutput(const std::string& variant, int index, const OutputLine& line) = 0;
};

}  // namespace coder::harness
