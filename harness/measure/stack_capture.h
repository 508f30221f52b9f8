#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "harness/measure/measurements.h"
#include "harness/process/child_process.h"

namespace coder::harness {

class ActiveChildren;

/// A program that prints every thread's stack of a running process: eu-stack (Debian's elfutils) or gdb.
struct StackTool {
  std::string name;  ///< "eu-stack" or "gdb"
  std::string path;  ///< absolute, as found in PATH
};

/// Finds the tool named by `choice` ("eu-stack", "gdb", or "auto": eu-stack, else gdb, the faster first)
/// in the ':'-separated `path_env` (nullopt: PATH unset), as ResolveExecutable looks. An Error names what
/// is missing and the Debian package that has it. Thread-safe.
Result<StackTool> FindStackTool(std::string_view choice, const std::optional<std::string>& path_env);

/// The argv that makes `tool` print the stacks of every thread of `pid` and detach.
std::vector<std::string> StackToolArgv(const StackTool& tool, pid_t pid);

/// Whether `text`, printed by `tool` ("eu-stack" or "gdb") for a process of `threads` threads, holds a
/// stack for each: at least `threads` thread blocks (eu-stack's "TID n:", gdb's "Thread N (...):"), at
/// least one, and each with at least one frame line ("#0 ..."). Lines outside the blocks (warnings)
/// do not matter. Pure; thread-safe.
bool StacksAreComplete(std::string_view text, std::string_view tool, size_t threads);

/// What RunTool's program printed and how it ended.
struct ToolRun {
  std::string text;                ///< stdout and stderr interleaved, the tail kept, a head cut said so
  std::optional<ExitStatus> exit;  ///< nullopt when it was killed at the timeout
  std::string error;               ///< it could not be started, or the harness was interrupted
};

/// Runs `argv` (its own process group, its stop plan SIGKILL) until it exits or `timeout`, keeping the
/// last `max_bytes` of its output. Registered in `active` while it runs, so an interrupt stops it too.
/// Blocks; thread-safe.
ToolRun RunTool(std::vector<std::string> argv, std::vector<std::pair<std::string, std::string>> env,
                std::chrono::milliseconds timeout, size_t max_bytes, ActiveChildren& active);

/// How a capture is bounded.
struct StackCaptureLimits {
  std::chrono::milliseconds timeout{10'000};  ///< per process; the tool is killed after it
  size_t max_bytes = 256 << 10;               ///< of text kept per process (the tail is cut)
  size_t max_processes = 8;                   ///< of the target's tree
};

/// Runs `tool` against each of `pids` in turn (its own process group, killed at the timeout), and
/// returns what it printed (stdout and stderr, warnings included), one entry per pid. An entry's error
/// says why stacks are missing: the tool did not start, timed out, died of a signal, or exited non-zero
/// without a stack of every thread (StacksAreComplete); a non-zero exit with every stack printed
/// (eu-stack after a warning) is no error. `launched` is the run's launch, which ProcessStacks::at_ms
/// counts from. The tool process is registered in `active`, so an interrupt stops it too; nothing is
/// captured once the harness is interrupted. Blocks; thread-safe.
/// The tracer must be allowed to attach: see LaunchSpec::allow_ptrace_by_harness.
std::vector<ProcessStacks> CaptureStacks(const StackTool& tool, const std::vector<pid_t>& pids,
                                         std::chrono::steady_clock::time_point launched,
                                         const StackCaptureLimits& limits, ActiveChildren& active);

}  // namespace coder::harness
