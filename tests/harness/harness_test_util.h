#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "harness/experiment/run.h"
#include "harness/process/child_process.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace coder::harness::testing {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

using test_support::Eventually;
using test_support::In;
using test_support::StartOrFail;

/// A LaunchSpec for the calibrated target with `args`. Its stop plan is short: tests must stay fast.
inline LaunchSpec Calibrated(std::vector<std::string> args) {
  LaunchSpec spec;
  spec.argv = {CALIBRATED_TARGET_PATH};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.stop_plan = {{StopAction::kTerminate, 300ms}, {StopAction::kKill, 5s}};
  return spec;
}

inline std::function<bool(const OutputLine&)> Contains(std::string needle) {
  return [needle = std::move(needle)](const OutputLine& line) { return line.text.find(needle) != std::string::npos; };
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
