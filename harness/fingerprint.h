#pragma once

#include <re2/re2.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "harness/run_record.h"

namespace coder::harness {

// Built-in fingerprint names, as they appear in reports.
/// A log line `websocket shutdown timed out after N seconds` (the motivating 10 s tail).
inline constexpr const char* kFpWebsocketTimeout = "websocket-shutdown-timeout";
/// Shutdown latency within a hair of a known timeout: something waited until it gave up.
inline constexpr const char* kFpLatencyAtTimeout = "latency-at-known-timeout";
/// The watchdog had to SIGKILL a target that printed nothing after the stop signal: a silent hang.
inline constexpr const char* kFpSilentWatchdogKill = "silent-watchdog-kill";
/// Died of SIGKILL that the harness did not send (the kernel's OOM killer, most often).
inline constexpr const char* kFpForeignSigkill = "sigkill-not-sent-by-harness";

/// Line fingerprints (built-in and `--fingerprint NAME=REGEX`) compiled once with RE2, whose matching is
/// linear in the line length whatever the pattern. Immutable after Create, so thread-safe to share.
class FingerprintSet {
 public:
  /// `user_specs` are NAME=REGEX; an Error names the bad spec (no '=', empty name, a regex RE2 rejects).
  static Result<std::shared_ptr<const FingerprintSet>> Create(const std::vector<std::string>& user_specs);

  /// Adds the names of the line fingerprints that match `line` to `matched`.
  void Scan(std::string_view line, std::set<std::string>& matched) const;

  /// Names that count as a timeout (and so make the outcome timeout-fingerprint rather than clean).
  static bool IsTimeoutFingerprint(std::string_view name);

  /// The N of `websocket shutdown timed out after N seconds`, if this line is one.
  std::optional<double> TimeoutSeconds(std::string_view line) const;

 private:
  struct Pattern {
    std::string name;
    std::unique_ptr<RE2> regex;
  };
  std::vector<Pattern> patterns_;
  std::unique_ptr<RE2> websocket_timeout_;
};

/// Parses a shutdown-step line of the built-in server's log, human (`step=NAME took=1.20ms`) or JSON
/// (`"step":"NAME","took_ms":1.2`).
std::optional<StepTiming> ParseStepLine(std::string_view line);

/// The wait-group slots a timeout line names (`held=a, b` or JSON `"held":"a, b"`); empty if none.
std::vector<std::string> ParseHeldSlots(std::string_view line);

/// Whether `latency_ms` sits at one of `timeouts_ms`: from just under it (1%) to 250 ms or 5% past it,
/// which is where a wait that ran out its timer ends.
bool LatencyAtKnownTimeout(double latency_ms, const std::vector<double>& timeouts_ms);

}  // namespace coder::harness
