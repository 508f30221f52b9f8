#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "harness/history/history_store.h"
#include "harness/report/report_document.h"
#include "harness/report/run_store.h"

namespace coder::harness {

/// `--history` of `coder diag shutdown`: where its runs go, and what is checked once they are in.
struct HistoryRecording {
  std::string location;  ///< a SQLite file or a postgresql:// URI
  std::string since;     ///< the fix (a commit prefix or a time); empty: the runs are ingested, nothing checked
  std::vector<RecurrenceSelector> selectors;  ///< checked in each of the report's variants
  double confidence = 0.95;
};

/// What RecordHistory did: the history's section of the report when the runs were stored (with the
/// verdicts when the checks could be made), and what failed.
struct RecordedHistory {
  std::optional<ReportHistory> history;
  std::optional<Error> error;
};

/// Ingests `runs` (their CI context from the environment, OriginFromEnvironment; their time the
/// report's `started_at`) in one transaction, then checks each selector in each variant since the fix.
/// When the history could not be opened or written, nothing is stored and there is no section; when
/// only the checks failed (the fix names no run, the database failed), the runs are stored and the
/// section says so, without verdicts.
RecordedHistory RecordHistory(const HistoryRecording& recording, const std::string& started_at, const RunSource& runs,
                              const std::vector<std::string>& variants);

/// Opens and closes `location`, creating it when missing: an Error before any run when it cannot hold
/// a history (not a database, a newer schema, a server that refuses).
Status ProbeHistory(const std::string& location);

}  // namespace coder::harness
