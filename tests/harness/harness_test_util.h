#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness/process/child_process.h"
#include "harness/experiment/run.h"

namespace coder::harness::testing {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

inline Clock::time_point In(Clock::duration d) { return Clock::now() + d; }

/// A LaunchSpec for the calibrated target with `args`. Its stop plan is short: tests must stay fast.
inline LaunchSpec Calibrated(std::vector<std::string> args) {
  LaunchSpec spec;
  spec.argv = {CALIBRATED_TARGET_PATH};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.stop_plan = {{StopAction::kTerminate, 300ms}, {StopAction::kKill, 5s}};
  return spec;
}

inline std::unique_ptr<ChildProcess> StartOrFail(LaunchSpec spec, ChildProcess::LineCallback cb = {}) {
  auto child = ChildProcess::Start(std::move(spec), std::move(cb));
  if (!child) {
    ADD_FAILURE() << child.error().message;
    return nullptr;
  }
  return std::move(child.value());
}

inline std::function<bool(const OutputLine&)> Contains(std::string needle) {
  return [needle = std::move(needle)](const OutputLine& line) { return line.text.find(needle) != std::string::npos; };
}

/// Waits for a condition that nothing can notify (the state of /proc): re-checks it every millisecond
/// or so until `deadline`. Returns whether it became true.
template <class Pred>
bool Eventually(Pred pred, Clock::time_point deadline) {
  while (!pred()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

/// The pid in a "grandchild <pid> ready" line, or -1.
inline pid_t GrandchildPid(const ChildProcess& child) {
  for (const OutputLine& line : child.Lines()) {
    int pid = -1;
    if (std::sscanf(line.text.c_str(), "grandchild %d ready", &pid) == 1) return pid;
  }
  return -1;
}

/// Runs the calibrated target through ExecuteRun with short timeouts and no known timeouts, sampling
/// with a live RssSampler. `fingerprint_specs` are the user fingerprints (NAME=REGEX).
class ExecuteRunFixture : public ::testing::Test {
 protected:
  explicit ExecuteRunFixture(const std::vector<std::string>& fingerprint_specs = {}) {
    fingerprints = *FingerprintSet::Create(fingerprint_specs);
    options.ready_timeout = 10s;
    options.kill_after = 10s;
    options.known_timeouts_ms = {};
    sampler.Start();
  }
  /// One run of the calibrated target with `args`, as variant `name`; fails the test if it was interrupted.
  RunRecord Run(std::vector<std::string> args, std::string name = "calibrated") {
    VariantSpec v;
    v.name = std::move(name);
    v.argv = {CALIBRATED_TARGET_PATH};
    v.argv.insert(v.argv.end(), args.begin(), args.end());
    auto rec = ExecuteRun(v, 0, options, *fingerprints, sampler, active);
    EXPECT_TRUE(rec.has_value());
    return rec.value_or(RunRecord{});
  }

  std::shared_ptr<const FingerprintSet> fingerprints;
  RunOptions options;
  RssSampler sampler;
  ActiveChildren active;
};

}  // namespace coder::harness::testing
