#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "harness/run_record.h"

namespace coder::harness {

class ActiveChildren;

/// A program that prints every thread's stack of a running process: eu-stack (Debian's elfutils) or gdb.
struct StackTool {
  std::string name;  ///< "eu-stack" or "gdb"
  std::string path;  ///< absolute, as found in PATH
};

/// Finds the tool named by `choice` ("eu-stack", "gdb", or "auto": eu-stack, else gdb, the faster first)
/// in the ':'-separated `path_env`. An Error names what is missing and the Debian package that has it.
/// Thread-safe.
Result<StackTool> FindStackTool(std::string_view choice, const std::string& path_env);

/// The argv that makes `tool` print the stacks of every thread of `pid` and detach.
std::vector<std::string> StackToolArgv(const StackTool& tool, pid_t pid);

/// How a capture is bounded.
struct StackCaptureLimits {
  std::chrono::milliseconds timeout{10'000};  ///< per process; the tool is killed after it
  size_t max_bytes = 256 << 10;                ///< of text kept per process (the tail is cut)
  size_t max_processes = 8;                    ///< of the target's tree
};

/// Runs `tool` against each of `pids` in turn (its own process group, killed at the timeout), and
/// returns what it printed, or why it printed nothing, one entry per pid. `launched` is the run's
/// launch, which ProcessStacks::at_ms counts from. The tool process is registered in `active`, so an
/// interrupt stops it too; nothing is captured once the harness is interrupted. Blocks; thread-safe.
/// The tracer must be allowed to attach: see LaunchSpec::allow_ptrace_by_harness.
std::vector<ProcessStacks> CaptureStacks(const StackTool& tool, const std::vector<pid_t>& pids,
                                         std::chrono::steady_clock::time_point launched,
                                         const StackCaptureLimits& limits, ActiveChildren& active);

}  // namespace coder::harness
