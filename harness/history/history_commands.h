#pragma once

#include <optional>
#include <string>
#include <vector>

#include "harness/analysis/recurrence.h"
#include "harness/history/history_store.h"
#include "harness/history/history_trend.h"

namespace coder::harness {

/// `coder diag history ingest`: the database, the reports, and the CI context given on the command line
/// (the rest comes from the environment: OriginFromEnvironment).
struct HistoryIngestConfig {
  std::string db;
  std::vector<std::string> reports;
  RunOrigin origin;
};

/// Ingests every report, each in its own transaction, and prints what each added. A report that cannot
/// be read is refused with its path and reason and nothing of it stored; the others are still ingested.
/// Returns 0, 2 when a report was refused (or --time is not a time), 3 when the database failed (then
/// the reports after it are not tried).
int RunHistoryIngest(const HistoryIngestConfig& config);

/// `coder diag history check`.
struct HistoryCheckConfig {
  std::string db;
  RecurrenceSelector selector;
  std::string since;  ///< a commit (hex prefix) or a time (YYYY-MM-DD, or RFC 3339: CanonicalUtc)
  std::optional<std::string> variant, branch;
  double confidence = 0.95;
};

/// Counts the runs before and since, checks (CheckRecurrence) and prints the verdict as one sentence.
/// Returns kHistoryStopped, kHistoryStillRecurring or kHistoryNotEnoughEvidence; 2 for a bad `since` (not
/// a time, an unknown or ambiguous commit), 3 when the database failed.
int RunHistoryCheck(const HistoryCheckConfig& config);

/// `coder diag history show`.
struct HistoryShowConfig {
  std::string db;
  std::optional<std::string> variant, branch;
  TrendOptions trend;
  std::string since;  ///< as HistoryCheckConfig::since; empty: the whole history
  std::string plot;   ///< a .png or .svg to draw the trend to; empty: none
  bool json = false;  ///< the trend as JSON (TrendToJson) instead of the table
};

/// Reads the window, builds the trend and prints it (and plots it). Returns 0; 2 for a bad `since` or
/// a plot that cannot be written, 3 when the database failed.
int RunHistoryShow(const HistoryShowConfig& config);

/// Whether `since` can name a fix: a time (CanonicalUtc) or a commit prefix (4 to 64 hex digits).
bool IsHistorySince(const std::string& since);
/// The usage error for a `since` that is neither.
std::string HistorySinceError(const std::string& since);

/// A fix's `since` resolved to the time it names, or why it names none: `code` 2 (not a time, a commit
/// the history has no run of, an ambiguous prefix) or 3 (the database failed), with the message.
struct ResolvedSince {
  std::string at;
  int code = 0;
  std::string error;
};
ResolvedSince ResolveHistorySince(HistoryStore& store, const std::string& since, const std::string& location);

/// Counts the runs of `filter` before and since `since_at` (what `since` names) and checks them: the
/// check and its sentence, whose subject is the selector and the filter ("outcome crashed in api").
struct HistoryCheckResult {
  RecurrenceCheck check;
  std::string sentence;
};
Result<HistoryCheckResult> CheckHistory(HistoryStore& store, const RecurrenceSelector& selector,
                                        const RunFilter& filter, const std::string& since, const std::string& since_at,
                                        double confidence);

/// The verdict as one sentence: "0 of 412 runs since 3f2a1c (before: 7 of 388, 1.8% [0.7%, 3.7%]);
/// Fisher p = 0.006: stopped." `since` is how the user named the start.
std::string RecurrenceSentence(const RecurrenceCheck& check, const std::string& what, const std::string& since);

}  // namespace coder::harness
