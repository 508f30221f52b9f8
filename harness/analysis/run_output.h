#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "harness/analysis/run_record.h"

namespace coder::harness {

// What a run's own output looks like where a human reads it: on stderr as a failed run ends, and in
// the notes of the summary table and the Markdown after a hang. Every line shown is TerminalSafe.

/// Failed to start, crashed or never ready: the first such run of a variant prints its last output
/// lines on stderr as soon as it ends (the reason is usually in them: a usage error, a panic).
bool EchoesOutputWhenItEnds(Outcome outcome);
/// Killed by the watchdog, timeout fingerprint, slow or crashed: the stop hung or went wrong, and the
/// report shows the last lines before it for the first such run of each variant.
bool ShowsOutputBeforeAHang(Outcome outcome);

/// The last `max_lines` lines of the run's log, oldest first, each as "stderr| text" (with
/// `with_times`, "+1.203s stderr| text", seconds on the log's clock), terminal-safe and cut to 400
/// bytes ("... [N more bytes]"). A record without a log (from an older report) falls back to its
/// log_tail, untagged: "| text". Pure function.
std::vector<std::string> LastOutputLines(const RunRecord& record, size_t max_lines, bool with_times);

/// "from the stop signal" or "from the launch (never signalled)": what LastOutputLines' times count from.
std::string LogClockPhrase(const RunRecord& record);

/// Decides which finished runs print their output on stderr: the first run of each variant whose
/// outcome EchoesOutputWhenItEnds. Thread-safe.
class FailedRunEcho {
 public:
  static constexpr size_t kLines = 20;

  /// The text to print for `record` (whole lines, each ending in '\n'), or nullopt when it prints
  /// nothing: "coder diag shutdown: python3 #0 failed-to-start (exited before it was ready: exit 2);
  /// its last 2 lines of output:" then "  stderr| ..." per line.
  std::optional<std::string> OnRunFinished(const RunRecord& record);

 private:
  std::mutex mu_;
  std::set<std::string> echoed_;  // variants; guarded by mu_
};

/// The first run (lowest index) of each variant whose outcome ShowsOutputBeforeAHang, picked from runs
/// seen one at a time in any order, so a report streams its runs by and keeps one a variant. Not
/// thread-safe.
class FirstHangPerVariant {
 public:
  void Add(const RunRecord& run);
  /// The runs kept, in `variant_order` (variants without such a run left out).
  std::vector<const RunRecord*> InOrder(const std::vector<std::string>& variant_order) const;

 private:
  std::map<std::string, RunRecord> first_;
};

/// The summary table's notes on hangs: for each variant in `variant_order`, its first hang (as
/// FirstHangPerVariant picks it), with its last `max_lines` lines and their times. "" when there is
/// none; else starts with a blank line. Pure function.
std::string HangOutputNotes(const std::vector<std::string>& variant_order, const FirstHangPerVariant& hangs,
                            size_t max_lines = 10);
std::string HangOutputNotes(const std::vector<std::string>& variant_order, const std::vector<RunRecord>& runs,
                            size_t max_lines = 10);

}  // namespace coder::harness
