#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "harness/analysis/run_record.h"
#include "harness/history/history_store.h"

namespace coder::harness {

/// The runs of one report file and when they started.
struct ReportFileRuns {
  std::vector<RunRecord> runs;
  std::string started_at;  ///< the document's meta.started_at; empty for JSON lines, which carry none
};

/// Reads a report written by `coder diag shutdown`: a JSON document (`--json`, merged ones included,
/// read strictly as ReadWholeReport reads it) or JSON lines (`--jsonl`, every line a run record). A file
/// that is corrupt or cut off is an Error naming the path and, for JSON lines, the line: a history must
/// not count a report by halves.
Result<ReportFileRuns> ReadReportFileRuns(const std::filesystem::path& path);

/// The CI context of an ingest: each field from `given` when set, else from the CI's environment
/// (GitHub Actions' GITHUB_SHA, GITHUB_REF_NAME, RUNNER_NAME, GITHUB_RUN_ID and the run's URL; GitLab's
/// CI_COMMIT_SHA, CI_COMMIT_REF_NAME, CI_RUNNER_DESCRIPTION, CI_PIPELINE_ID, CI_JOB_URL). `at` is left as
/// given: the report's own time decides it (IngestReportFile). `env` is getenv by default.
RunOrigin OriginFromEnvironment(RunOrigin given, const std::function<const char*(const char*)>& env = nullptr);

/// A time as the history stores and compares it, "2026-11-24T04:19:37.265Z" (UTC, milliseconds, so that
/// text order is time order): from a date (YYYY-MM-DD, its midnight UTC) or RFC 3339 with a Z or an
/// offset (converted to UTC), fractions of a second cut to milliseconds. nullopt for anything else,
/// including impossible dates (2026-13-01, 2026-02-30) and years before 1970 or after 2200.
std::optional<std::string> CanonicalUtc(std::string_view text);

/// Reads `path` and stores its runs in one transaction (all or nothing). Their time is `origin.at` when
/// set (canonical: CanonicalUtc), else the report's meta.started_at, else now (JSON lines). A report that
/// cannot be read is `refused`; a database that fails is not.
struct IngestOutcome {
  IngestCounts counts;
  std::optional<Error> refused;  ///< the report was not stored: why (its path first)
};
Result<IngestOutcome> IngestReportFile(HistoryStore& store, const std::filesystem::path& path, RunOrigin origin);

}  // namespace coder::harness
