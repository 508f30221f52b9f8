#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness/measure/measurements.h"
#include "harness/traffic/traffic_record.h"

namespace coder::harness {

/// How one launch of a target ended, most severe first in the order Classify() applies them.
enum class Outcome {
  kFailedToStart,          ///< could not be executed, or exited before it became ready
  kNeverReady,             ///< did not become ready within --ready-timeout (the harness then stopped it)
  kCrashed,                ///< non-zero exit, or died of a signal the harness did not send
  kKilledByWatchdog,       ///< still running --kill-after past the signal: the harness sent SIGKILL
  kClientsNotEstablished,  ///< its --client connections were not all established before the signal: untested
  kLeftProcesses,          ///< the leader exited while processes of its tree still ran (the harness killed them)
  kTimeoutFingerprint,     ///< exited, but a timeout fingerprint matched (log line or latency at a known timeout)
  kSlow,                   ///< exited cleanly, but slower than --slow-threshold
  kClean,
};
inline constexpr Outcome kAllOutcomes[] = {Outcome::kClean,
                                           Outcome::kSlow,
                                           Outcome::kTimeoutFingerprint,
                                           Outcome::kLeftProcesses,
                                           Outcome::kClientsNotEstablished,
                                           Outcome::kKilledByWatchdog,
                                           Outcome::kCrashed,
                                           Outcome::kNeverReady,
                                           Outcome::kFailedToStart};
/// "clean", "slow", "timeout-fingerprint", "left-processes", "clients-not-established",
/// "killed-by-watchdog", "crashed", "never-ready", "failed-to-start".
std::string_view ToString(Outcome outcome);
std::optional<Outcome> OutcomeFromString(std::string_view text);

/// One shutdown step as the target's own log reported it (the built-in server logs
/// `shutdown step done  step=NAME took=DURATION`, parsed by harness/builtin/builtin_log.h).
struct StepTiming {
  std::string name;
  double ms = 0;
  bool operator==(const StepTiming&) const = default;
};

/// The most RSS samples a run record keeps (RunOptions::max_timeline_points' default).
inline constexpr size_t kRssTimelineMaxPoints = 512;

/// Everything measured about one launch. Times are monotonic-clock milliseconds, relative to the launch
/// unless named otherwise. A plain value type.
struct RunRecord {
  std::string variant;
  int index = 0;  ///< 0-based within its variant
  Outcome outcome = Outcome::kClean;
  std::string detail;  ///< one human sentence: why this outcome

  /// When the run was launched, in ms since the experiment started (one monotonic clock for all runs),
  /// so concurrent runs share one axis: their absolute times are launch_ms + ready_ms, + signal_ms, ...
  std::optional<double> launch_ms;
  std::optional<double> ready_ms;    ///< launch → ready
  std::optional<double> signal_ms;   ///< launch → stop signal sent
  std::optional<double> exit_ms;     ///< launch → exit seen (pidfd readable)
  std::optional<double> latency_ms;  ///< stop signal → exit: the shutdown latency
  std::string exit;                  ///< "exit 0", "killed by SIGKILL", "" if never launched
  std::optional<int> exit_code;
  std::optional<int> exit_signal;
  bool watchdog_fired = false;  ///< the harness sent SIGKILL after --kill-after (or ended it with a dump)
  /// A runtime dump at --stack-after ended the target (Go exits after its goroutine dump): the run was
  /// hung then, and was not watched on to --kill-after. watchdog_fired is set too.
  bool ended_by_dump = false;
  /// Stop signal → STOPPING=1 on the run's notify socket (--ready-notify): when the target said it
  /// had begun to stop.
  std::optional<double> stop_acknowledged_ms;
  /// Processes of the target's tree or group still running when the leader exited; the harness killed
  /// them (a wrapper that died of the signal while the real server never got it).
  int left_processes = 0;

  uint64_t kernel_peak_rss_bytes = 0;  ///< wait4 ru_maxrss of the target process itself
  uint64_t tree_peak_rss_bytes = 0;    ///< max of the sampled RSS of its process tree
  std::vector<RssPoint> rss_timeline;  ///< sampled, bounded (decimated keeping peaks)

  std::vector<std::string> fingerprints;  ///< names of the fingerprints that matched, each once
  std::vector<StepTiming> steps;          ///< per-step shutdown durations parsed from the log
  std::vector<std::string> held_slots;    ///< wait-group slots named by a timeout line
  std::vector<std::string> log_tail;      ///< the last lines of output (bounded)
  /// The whole bounded log; kept for runs that were not clean (and every run with --keep-logs), so
  /// absent for the others.
  std::optional<RunLog> log;
  uint64_t log_lines = 0;
  uint64_t log_dropped_bytes = 0;
  std::vector<ProcessStacks> stacks;  ///< taken when the run hung past --stack-after
  /// What the run's --client and --load traffic met; absent without them.
  std::optional<TrafficRecord> traffic;
  /// Where it hung: its threads and open sockets when it was still running at --stack-after, the
  /// watchdog or the ready timeout, with the verdict; absent for a run that did not hang.
  std::optional<HangSnapshot> hang;

  /// One JSON object with every member under its own name (docs/report-schema.md, "Run record"): an
  /// absent optional is written as null; rss_timeline is [[t_ms, bytes], ...]; steps are
  /// [{"name", "ms"}, ...]; stacks are [{"pid", "tool", "at_ms", "text", "error"}, ...]; log is null or {"clock",
  /// "lines": [[t_ms, "stdout"|"stderr", text], ...], "dropped_lines", "dropped_bytes"}. FromJson(ToJson()) == *this
  /// for any record whose strings are valid UTF-8, also through text (doubles are printed round-trippable).
  nlohmann::json ToJson() const;
  /// The inverse of ToJson. A missing key or null keeps the member's default; nullopt when `j` is not
  /// an object, lacks a string `variant` or a known `outcome`, or has a value of the wrong type
  /// (including an int member out of range).
  static std::optional<RunRecord> FromJson(const nlohmann::json& j);

  bool operator==(const RunRecord&) const = default;
};

/// The label of a user's target: `target=NAME`, NAME as given to --target (or the command's file name).
inline constexpr const char* kTargetLabel = "target";

/// One variant of the experiment: a command, how many runs, and whether its findings gate the exit code.
struct VariantSpec {
  std::string name;               ///< "order=patched,gateway=on", or the --target NAME
  std::vector<std::string> argv;  ///< as exec'd; for the built-in server, without the per-run config dir
  bool builtin_server = false;    ///< the harness adds --config-dir and knows the log format
  bool gated = true;              ///< false for a baseline: reported, never gated
  bool baseline = false;
  std::optional<double> known_timeout_ms;  ///< e.g. the built-in server's --websocket-shutdown-timeout
  /// What the variant is, as structured labels: `order` and `gateway` for the built-in server's matrix
  /// (harness/builtin), `target` (kTargetLabel) for a user's target. Pairing with a baseline and
  /// choosing one read these, never the name.
  std::map<std::string, std::string> labels;
};

}  // namespace coder::harness
