#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/duration.h"
#include "server/log.h"

namespace coder::server {

/// Time source for the plan, injected so tests can drive time. Implementations must be thread-safe.
class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

/// The real monotonic clock.
class SteadyClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  static const SteadyClock& Instance();
};

/// What a step's action reports: completed, or gave up at its deadline with a reason.
struct StepResult {
  bool completed = true;
  std::string detail;
};

/// One step of a shutdown: a name, a budget, and an action that must return by the deadline it is given
/// (now + budget). The plan cannot preempt an action; it measures and reports one that overruns (returns
/// more than 50 ms past its deadline).
struct ShutdownStep {
  std::string name;
  Duration budget;
  std::function<StepResult(Clock::TimePoint deadline)> action;
};

struct StepTiming {
  std::string name;
  Duration took{};
  bool completed = true;
  bool overran = false;
};

struct ShutdownReport {
  std::vector<StepTiming> steps;
  Duration total{};
  /// "api-drain 1.20ms (0.0%), websocket-wait 10.001s (99.9%)": each step with its share of the total.
  std::string Summary() const;
};

/// Runs shutdown steps in their declared order, one loop, logging each step's name and duration
/// (`shutdown step done step=NAME took=DURATION`) and a final line with the total and each share.
/// Run() is idempotent and thread-safe: the first call runs the steps, every later or concurrent call
/// waits for that run and returns the same report.
class ShutdownPlan {
 public:
  ShutdownPlan(std::vector<ShutdownStep> steps, Logger& log, const Clock& clock = SteadyClock::Instance());

  const ShutdownReport& Run();

  /// The step running now, or "" (for the SIGQUIT state dump; thread-safe).
  std::string CurrentStep() const;
  std::vector<std::string> StepNames() const;

 private:
  std::vector<ShutdownStep> steps_;
  Logger& log_;
  const Clock& clock_;
  std::once_flag once_;
  ShutdownReport report_;
  mutable std::mutex current_mu_;
  std::string current_;
};

}  // namespace coder::server
