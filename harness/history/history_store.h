#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "harness/analysis/recurrence.h"
#include "harness/analysis/run_record.h"

namespace coder::harness {

/// Where a batch of runs came from: the CI context of one report. Empty strings are unknown.
struct RunOrigin {
  std::string commit, branch, runner, ci_run_id, job_url;
  std::string at;  ///< RFC 3339 UTC ("2026-11-24T04:19:37.265Z"): when the report's runs started
};

struct IngestCounts {
  size_t added = 0;    ///< runs stored by this ingest
  size_t already = 0;  ///< runs the history held before (the same record, from any report)
};

/// What is counted: the runs where a fingerprint matched, or the runs of an outcome.
struct RecurrenceSelector {
  enum class Kind { kFingerprint, kOutcome } kind = Kind::kFingerprint;
  std::string name;
};

/// A history of runs in one SQLite file (docs/history.md): WAL, a busy timeout, every ingest one
/// transaction. Several processes may ingest into one file at once; none loses or doubles a run (a
/// run's key is the SHA-256 of its record, so a run is stored once whichever reports carry it). Not
/// thread-safe: one HistoryStore per thread. Close() is idempotent and the destructor calls it.
class HistoryStore {
 public:
  /// Opens (creating it and its schema when missing) the database at `path`. An Error names the path
  /// and why: not a database, a newer schema, a directory that cannot be written.
  static Result<std::unique_ptr<HistoryStore>> Open(const std::string& path);
  ~HistoryStore();
  HistoryStore(const HistoryStore&) = delete;
  HistoryStore& operator=(const HistoryStore&) = delete;

  /// Stores `runs` with `origin`, all or nothing: on an Error nothing of them is stored.
  Result<IngestCounts> Ingest(const RunOrigin& origin, const std::vector<RunRecord>& runs);

  /// The earliest `at` of the runs of a commit whose hash starts with `prefix` (at least 4 hex digits);
  /// nullopt when no stored run has such a commit. An Error when the prefix names two commits.
  Result<std::optional<std::string>> FirstRunOfCommit(std::string_view prefix);

  /// The runs (optionally of `variant`) with `at` before `since` (before = true) or at or after it, and
  /// how many of them the selector hit.
  Result<Proportion> Count(const RecurrenceSelector& selector, const std::optional<std::string>& variant,
                           const std::string& since, bool before);

  /// Every stored run (tests, and a check that nothing was lost).
  Result<uint64_t> RunCount();

  /// Closes the database. Idempotent; the store answers nothing afterwards (an Error).
  void Close();

 private:
  HistoryStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status Exec(const char* sql);
  Error SqlError(std::string_view what) const;

  sqlite3* db_;
  std::string path_;
};

/// The key a run is stored under: the SHA-256 of its record's JSON, in hex.
std::string RunKey(const RunRecord& run);

}  // namespace coder::harness
