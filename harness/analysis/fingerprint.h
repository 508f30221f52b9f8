#pragma once

#include <re2/re2.h>
#include <re2/set.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "harness/analysis/run_record.h"

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

/// A built-in generic timeout line: the words servers, runtimes and supervisors print when a wait gave
/// up (Go's `context deadline exceeded`, Python's `TimeoutError`, Spring's `within timeout of`, ...).
/// Matched case-insensitively, only on lines that arrive after the stop signal, and not on a line the
/// exact `websocket-shutdown-timeout` fingerprint already matched (that line counts once, by its name).
struct GenericTimeoutLine {
  const char* name;
  const char* pattern;  ///< RE2, matched anywhere in the line
  const char* unless;   ///< RE2 or nullptr: a line this matches is a mention (a setting), not a timeout
  const char* example;  ///< a line it matches (documentation and tests)
};
/// Every generic timeout line, in the order reports and usage errors list them.
const std::vector<GenericTimeoutLine>& GenericTimeoutLines();

/// Names of the built-in line fingerprints that `--no-fingerprint` can switch off: the exact
/// websocket-shutdown-timeout line first, then the generic ones.
std::vector<std::string> BuiltinLineFingerprintNames();

/// Whether `name` is one of the harness's own fingerprints (line, latency, watchdog or SIGKILL).
bool IsBuiltinFingerprint(std::string_view name);

/// Whether a line arrived before or after the stop signal went out.
enum class StopPhase { kBeforeSignal, kAfterSignal };

/// What a user fingerprint may cost: its compiled program (RE2's max_mem; a larger one is a usage
/// error), and the bytes of each line it is matched against (the line's head; built-in ones see it all).
inline constexpr int64_t kUserFingerprintMaxMem = 1 << 20;
inline constexpr size_t kUserFingerprintScanBytes = 4096;

/// Line fingerprints (built-in and `--fingerprint NAME=REGEX`) compiled once with RE2, whose matching is
/// linear in the line length whatever the pattern. Immutable after Create, so thread-safe to share.
class FingerprintSet {
 public:
  /// `user_specs` are NAME=REGEX; an Error names the bad spec (no '=', empty name, a built-in
  /// fingerprint's name, a regex RE2 rejects). `disabled` are built-in line fingerprints switched off
  /// (BuiltinLineFingerprintNames); an unknown name is an Error that lists the names.
  static Result<std::shared_ptr<const FingerprintSet>> Create(const std::vector<std::string>& user_specs,
                                                              const std::vector<std::string>& disabled = {});

  /// Adds the names of the line fingerprints that match `line` to `matched`. The generic timeout lines
  /// are judged only in StopPhase::kAfterSignal; the exact built-in line and the user's always.
  void Scan(std::string_view line, StopPhase phase, std::set<std::string>& matched) const;
  /// Scan(line, StopPhase::kAfterSignal, matched): every fingerprint applies.
  void Scan(std::string_view line, std::set<std::string>& matched) const {
    Scan(line, StopPhase::kAfterSignal, matched);
  }

  /// Names that count as a timeout (and so make the outcome timeout-fingerprint rather than clean).
  static bool IsTimeoutFingerprint(std::string_view name);

  /// The N of `websocket shutdown timed out after N seconds`, if this line is one.
  std::optional<double> TimeoutSeconds(std::string_view line) const;

 private:
  struct Pattern {
    std::string name;
    std::unique_ptr<RE2> regex;
  };
  struct Generic {
    std::string name;
    std::unique_ptr<RE2> regex;   // the same pattern alone: the set's DFA can run out of memory, RE2 alone cannot
    std::unique_ptr<RE2> unless;  // may be null
  };
  std::unique_ptr<RE2> websocket_timeout_;
  bool websocket_enabled_ = true;
  std::unique_ptr<RE2::Set> generic_set_;  // one pass over a line for every enabled generic pattern; may be null
  std::vector<Generic> generic_;           // by the set's indices
  std::vector<Pattern> user_;
};

/// Whether `latency_ms` sits at one of `timeouts_ms`: from just under it (1%) to 250 ms or 5% past it,
/// which is where a wait that ran out its timer ends.
bool LatencyAtKnownTimeout(double latency_ms, const std::vector<double>& timeouts_ms);

}  // namespace coder::harness
