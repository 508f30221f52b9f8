#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/process/socket_inventory.h"
#include "harness/process/thread_states.h"

// What the measuring layer records about one run, as plain values: RSS samples, debugger stacks and the
// target's bounded log. The analysis layer's RunRecord holds them; nothing here knows about outcomes.
namespace coder::harness {

/// One RSS sample of the target's whole process tree.
struct RssPoint {
  double t_ms = 0;  ///< since the launch
  uint64_t bytes = 0;
  bool operator==(const RssPoint&) const = default;
};

/// The stacks of one process of a run that hung past --stack-after: as a debugger printed them (the
/// native threads), or as the process's own runtime dumped them (--dump: Go's goroutines, ...).
struct ProcessStacks {
  int pid = 0;
  std::string tool;   ///< "eu-stack", "gdb"; a runtime's dump: "sigquit" (Go)
  double at_ms = 0;   ///< since the launch
  std::string text;   ///< every thread's stack, bounded (a debugger's head is cut and says so; a dump's tail)
  std::string error;  ///< why the text is missing or partial (the tool failed or timed out); else empty
  std::string runtime = "native";  ///< what the text is in: "native", "go" (Runtime's names)
  bool cut = false;                ///< a dump's text reached its limit and its tail was dropped
  /// One sentence of where it waits in the runtime's terms ("main goroutine [select] in ..."), from the
  /// analysis layer; empty for native stacks.
  std::string verdict;
  bool operator==(const ProcessStacks&) const = default;
};

/// What a hung run's processes held and did, from /proc (no ptrace, nothing paused): taken once per run
/// that was still running at --stack-after, at the watchdog, or at the ready timeout.
struct HangSnapshot {
  double at_ms = 0;                       ///< since the launch
  std::string taken_at;                   ///< "stack-after", "watchdog" or "ready-timeout"
  std::vector<ProcessThreads> processes;  ///< each live process of the tree, the leader first
  std::vector<OpenSocket> sockets;        ///< their open sockets (SocketsOf)
  uint64_t sockets_omitted = 0;
  uint64_t processes_omitted = 0;
  /// One sentence of where it hung, from all of the above (and the stacks, when there are); the analysis
  /// layer writes it (HangVerdict), so a snapshot read back from a report keeps the one it was given.
  std::string verdict;
  bool operator==(const HangSnapshot&) const = default;
};

/// One line of a target's output as the run's log keeps it.
struct LogLine {
  double t_ms = 0;  ///< when the harness read it, relative to RunLog::clock (negative before the stop signal)
  int stream = 1;   ///< 1 stdout, 2 stderr
  std::string text;
  bool operator==(const LogLine&) const = default;
};

/// What a run's LogLine::t_ms counts from.
enum class LogClock {
  kSignal,  ///< the stop signal (the run was signalled)
  kLaunch,  ///< the launch (the run never got the stop signal: it failed to start, was never ready, or exited first)
};
/// "signal", "launch".
std::string_view ToString(LogClock clock);
std::optional<LogClock> LogClockFromString(std::string_view text);

/// The whole bounded log of one run (--log-bytes): every line the harness still held when the run ended,
/// in the order the harness read them. Within one stream that is the order written; between stdout and
/// stderr it is the order the reads saw, which two pipes cannot make exact for lines written within
/// the same instant.
struct RunLog {
  LogClock clock = LogClock::kLaunch;
  std::vector<LogLine> lines;
  uint64_t dropped_lines = 0;  ///< the oldest lines, evicted to stay within --log-bytes: the log was cut at its head
  uint64_t dropped_bytes = 0;  ///< output bytes not kept: those lines, and the cut tails of lines over 64 KiB
  bool operator==(const RunLog&) const = default;
};

}  // namespace coder::harness
