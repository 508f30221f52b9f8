#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace coder::harness {

/// One step of a stop plan: act on the child's process group, then wait up to `timeout` for the child
/// to exit. A plan is data run by one loop (in the manner of reproc_stop).
enum class StopAction {
  kWait,       ///< send nothing: give the child time to exit by itself
  kTerminate,  ///< SIGTERM to the process group
  kKill,       ///< SIGKILL to the process group
};

struct StopStep {
  StopAction action;
  std::chrono::milliseconds timeout;
};

/// SIGTERM the group and wait 2 s, then SIGKILL the group and wait 5 s.
std::vector<StopStep> DefaultStopPlan();

/// What to launch and how to keep its output.
struct LaunchSpec {
  /// argv[0] is looked up in PATH when it has no '/' (ResolveExecutable in harness/spawn.h: with PATH
  /// unset, in /bin:/usr/bin); exec'd directly, never through a shell. The child sees argv exactly as
  /// given (argv[0] included).
  std::vector<std::string> argv;
  /// Added to, or overriding, the inherited environment. A PATH here is also the one argv[0] is
  /// looked up in.
  std::vector<std::pair<std::string, std::string>> env;
  /// Empty: inherit the harness's working directory.
  std::filesystem::path working_dir;
  /// Bound on the retained recent lines (text plus a small per-line overhead).
  size_t log_capacity_bytes = 1 << 20;
  /// Longer lines are cut here and marked OutputLine::truncated.
  size_t max_line_bytes = 64 << 10;
  /// What Stop() does; after the plan the group is SIGKILLed regardless, so no plan leaves a process.
  std::vector<StopStep> stop_plan = DefaultStopPlan();
  /// After the child is gone, how long Stop() waits for its pipes to reach end of file (a surviving
  /// descendant may hold them) before it stops reading.
  std::chrono::milliseconds output_drain_timeout{500};
  /// Lets the harness's own descendants (a debugger taking stacks) ptrace the child where Yama's
  /// ptrace_scope=1 would allow only its ancestors: PR_SET_PTRACER naming the harness, set before execve.
  bool allow_ptrace_by_harness = false;
};

}  // namespace coder::harness
