#include "server/shutdown_plan.h"

#include <fmt/format.h>

#include <cmath>

namespace coder::server {
namespace {

// A step that waits until its deadline returns a little after it; only lateness beyond this is an overrun.
constexpr auto kOverrunTolerance = std::chrono::milliseconds(50);

// Microsecond resolution is what a reader of the log can use; more digits are noise.
double RoundedMillis(Duration d) { return std::round(ToSeconds(d) * 1e6) / 1e3; }

}  // namespace

const SteadyClock& SteadyClock::Instance() {
  static const SteadyClock clock;
  return clock;
}

std::string ShutdownReport::Summary() const {
  std::string out;
  for (const auto& step : steps) {
    const double share =
        total.count() > 0 ? 100.0 * static_cast<double>(step.took.count()) / static_cast<double>(total.count()) : 0.0;
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {} ({:.1f}%)", step.name, FormatDuration(step.took), share);
  }
  return out;
}

ShutdownPlan::ShutdownPlan(std::vector<ShutdownStep> steps, Logger& log, const Clock& clock)
    : steps_(std::move(steps)), log_(log), clock_(clock) {}

const ShutdownReport& ShutdownPlan::Run() {
  std::call_once(once_, [this] {
    const auto plan_start = clock_.Now();
    for (auto& step : steps_) {
      {
        std::lock_guard lock(current_mu_);
        current_ = step.name;
      }
      const auto start = clock_.Now();
      const auto deadline = start + step.budget;
      StepResult result = step.action ? step.action(deadline) : StepResult{};
      const auto end = clock_.Now();
      StepTiming timing{step.name, end - start, result.completed, end > deadline + kOverrunTolerance};
      std::vector<LogField> fields{{"step", step.name},
                                   {"took", FormatDuration(timing.took)},
                                   {"took_ms", RoundedMillis(timing.took)},
                                   {"completed", timing.completed}};
      if (!result.detail.empty()) fields.push_back({"detail", result.detail});
      log_.Info("shutdown step done", fields);
      if (timing.overran) {
        log_.Warn("shutdown step overran its deadline", {{"step", step.name}, {"budget", FormatDuration(step.budget)}});
      }
      report_.steps.push_back(std::move(timing));
    }
    report_.total = clock_.Now() - plan_start;
    {
      std::lock_guard lock(current_mu_);
      current_.clear();
    }
    log_.Info(fmt::format("Shutdown complete in {}: {}", FormatDuration(report_.total), report_.Summary()),
              {{"total", FormatDuration(report_.total)}, {"total_ms", RoundedMillis(report_.total)}});
  });
  return report_;
}

std::string ShutdownPlan::CurrentStep() const {
  std::lock_guard lock(current_mu_);
  return current_;
}

std::vector<std::string> ShutdownPlan::StepNames() const {
  std::vector<std::string> names;
  for (const auto& s : steps_) names.push_back(s.name);
  return names;
}

}  // namespace coder::server
