#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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
/// run's key is the SHA-256 of its record, RunKey, so a run is stored once whichever reports carry it). Not
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

  /// The commits whose hash starts with `prefix` (at most two: more than one is ambiguous) and the
  /// earliest `at` of the first one's runs; no commits when no stored run has such a commit.
  struct CommitRuns {
    std::vector<std::string> commits;
    std::string first_at;
  };
  Result<CommitRuns> FindCommit(std::string_view prefix);

  /// Which runs a count takes: all, or those of a variant, of a branch.
  struct RunFilter {
    std::optional<std::string> variant, branch;
  };
  /// The runs with `at` before `since` and those at or after it, each with how many of them the
  /// selector hit: one read transaction, so both come from one state of the history.
  Result<std::pair<Proportion, Proportion>> CountAround(const RecurrenceSelector& selector, const RunFilter& filter,
                                                        const std::string& since);

  /// Every stored run (tests, and a check that nothing was lost).
  Result<uint64_t> RunCount();

  /// Closes the database. Idempotent; the store answers nothing afterwards (an Error).
  void Close();

 private:
  HistoryStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status Exec(const char* sql);
  Result<int64_t> SchemaVersion();
  Status EnterWal();
  Error SqlError(std::string_view what) const;

  sqlite3* db_;
  std::string path_;
};

/// The SHA-256, in hex, of a run's record's JSON without `index`, which a merge renumbers. A run is
/// stored under it, followed by `#k` for the k-th further record of one batch identical but for its index
/// (runs that measured nothing, such as targets that could not be executed).
std::string RunKey(const RunRecord& run);

}  // namespace coder::harness
