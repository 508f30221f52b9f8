#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "harness/process/child_process.h"

namespace coder::test_support {

/// Starts `spec` through the harness's ChildProcess. When it cannot be started, fails the calling test
/// with the reason and returns null.
std::unique_ptr<harness::ChildProcess> StartOrFail(harness::LaunchSpec spec,
                                                   harness::ChildProcess::LineCallback on_line = {});

/// How a process that was waited for ended.
struct FinishedProcess {
  std::optional<harness::ExitStatus> exit;  ///< nullopt if it did not end within the timeout
  std::string output;                       ///< what it printed, both streams
  std::string Exit() const { return exit ? exit->Describe() : "still running"; }
};

/// Starts `spec`, waits up to `timeout` for its exit, and returns how it ended with its output; a process
/// still running then is stopped (its stop plan). A failed start fails the calling test (exit nullopt).
FinishedProcess RunToEnd(harness::LaunchSpec spec, std::chrono::milliseconds timeout);

}  // namespace coder::test_support
