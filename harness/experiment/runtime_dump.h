#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "harness/measure/measurements.h"
#include "harness/measure/runtime_detect.h"
#include "harness/process/child_process.h"

namespace coder::harness {

class ActiveChildren;

/// --dump: what a hung process is asked for, besides the /proc snapshot every hung run gets.
struct DumpChoice {
  enum class Mode {
    kAuto,    ///< each process its own runtime's dump (DetectRuntime), native stacks for the rest
    kForced,  ///< `runtime`'s dump for every process not recognised as another runtime
    kNative,  ///< native thread stacks only (--stack-tool), as before --dump
    kNone,    ///< neither: the snapshot alone
  };
  Mode mode = Mode::kAuto;
  Runtime runtime = Runtime::kNative;  ///< with kForced

  /// "auto", "none", "native" or a runtime's name. The runtimes the harness cannot yet dump are an
  /// Error that says so.
  static Result<DumpChoice> Parse(std::string_view text);
  /// Whether a process of `detected` runtime gets `runtime`'s dump.
  bool Dumps(Runtime detected, Runtime runtime) const;
  /// Whether the launch arms `runtime`'s agent (ArmDumpAgents): with auto, or that runtime forced.
  bool Arms(Runtime runtime) const;
  /// What Parse read: "auto", "go", "jvm", "python", "node", "native", "none".
  std::string Name() const;
  /// Whether any native stacks are taken.
  bool native_stacks() const { return mode != Mode::kNone; }
};

/// Bounds of one runtime dump.
struct DumpLimits {
  size_t max_bytes = 4 << 20;  ///< the text kept; past it the dump is marked cut
  /// How long a runtime has to start answering the signal; one that prints nothing by then is recorded
  /// as not answering (a Go program may catch SIGQUIT itself).
  std::chrono::milliseconds answer_timeout{2000};
  /// How long the whole dump may take once started.
  std::chrono::milliseconds finish_timeout{5000};
  /// With a process that stays alive, how long its output must be quiet for the dump to be over.
  std::chrono::milliseconds quiet{100};
};

/// Whether `pid` of `child`'s tree has exited: the leader once its exit is published (its pipes drained),
/// a descendant once it is gone or exiting. Thread-safe.
bool TreeProcessGone(ChildProcess& child, pid_t pid);
/// Sends `sig` to `pid` of `child`'s tree: the leader through its pidfd, a descendant by pid (it is alive
/// and in the tree this moment). False when it was gone.
bool SignalTreeProcess(ChildProcess& child, pid_t pid, int sig);

/// The runtime dumps of a hung tree.
struct RuntimeDumps {
  std::vector<ProcessStacks> dumps;  ///< one per process that got one (or an attempt, with its error)
  std::vector<pid_t> answered;       ///< processes whose dump has text: they need no native stacks
  bool ended_a_process = false;      ///< a dump ended a process of the tree (a Go dump always does)
};

/// Takes the runtime dump of each process of `pids` that `choice` picks, deepest first (a Go leader's
/// dump ends it; its children are still there to be asked). Go: SIGQUIT, its goroutines read off the
/// child's stderr pipe as a capture (ChildProcess::StartCapture), so they never flood the run's log, or off
/// the regular file its stderr was redirected to (what SIGQUIT appended to it); not sent when the dump
/// would be lost (its stderr is neither, or GOTRACEBACK=none).
/// JVM: jcmd Thread.print, registered in `active` (TakeJvmDump); it keeps running.
/// Python and Node: through the agents the launch armed in `agent_dir` (TakePythonDump, TakeNodeDump);
/// they keep running. Each dump is bounded by `limits` and analysed (its verdict). Call on the loop;
/// `child` must outlive the call.
boost::asio::awaitable<RuntimeDumps> TakeRuntimeDumps(ChildProcess& child, std::vector<pid_t> pids, DumpChoice choice,
                                                      std::filesystem::path agent_dir, ActiveChildren& active,
                                                      DumpLimits limits = {});

}  // namespace coder::harness
