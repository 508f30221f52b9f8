#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
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

/// Which runs a query takes: all, or those of a variant, of a branch.
struct RunFilter {
  std::optional<std::string> variant, branch;
};

/// What a trend's buckets are: the runs of a commit, of a day (UTC), of a runner.
enum class TrendBy { kCommit, kDay, kRunner };

/// One stored run as `show` reads it back.
struct StoredRun {
  int64_t id = 0;  ///< the store's own number, which StoredFingerprint::run_id refers to
  std::string at, commit, branch, runner, variant, outcome;
  std::optional<double> latency_ms;
  int64_t peak_rss_bytes = 0;
};

struct StoredFingerprint {
  int64_t run_id = 0;
  std::string fingerprint;
};

/// The runs of a time window and the fingerprints they matched, from one state of the history.
struct RunWindow {
  std::vector<StoredRun> runs;                  ///< ordered by `at`, then by id
  std::vector<StoredFingerprint> fingerprints;  ///< only of the runs in `runs`
};

/// A history of runs (docs/history.md) in SQLite (a file, the default) or PostgreSQL (a
/// `postgresql://` URI), one schema for both. Every ingest is one transaction; several processes may
/// ingest into one history at once and none loses or doubles a run (a run's key is the SHA-256 of its
/// record, RunKey, so a run is stored once whichever reports carry it). Not thread-safe: one store per
/// thread. Close() is idempotent, the destructor calls it, and a closed store answers every call with an
/// Error.
class HistoryStore {
 public:
  /// Opens `location`, creating its schema when missing: a PostgreSQL connection URI
  /// (IsPostgresLocation) or else the path of a SQLite file (created when missing). An Error names the
  /// location (a URI without its password) and why: not a database, a newer schema, a server that
  /// refuses, a directory that cannot be written.
  static Result<std::unique_ptr<HistoryStore>> Open(const std::string& location);
  virtual ~HistoryStore() = default;

  /// Stores `runs` with `origin`, all or nothing: on an Error nothing of them is stored.
  virtual Result<IngestCounts> Ingest(const RunOrigin& origin, const std::vector<RunRecord>& runs) = 0;

  /// The commits whose hash starts with `prefix` (at most two: more than one is ambiguous) and the
  /// earliest `at` of the first one's runs; no commits when no stored run has such a commit.
  struct CommitRuns {
    std::vector<std::string> commits;
    std::string first_at;
  };
  virtual Result<CommitRuns> FindCommit(std::string_view prefix) = 0;

  /// The runs with `at` before `since` and those at or after it, each with how many of them the
  /// selector hit: one read transaction, so both come from one state of the history.
  virtual Result<std::pair<Proportion, Proportion>> CountAround(const RecurrenceSelector& selector,
                                                                const RunFilter& filter, const std::string& since) = 0;

  /// The runs of `filter` with `at` at or after `since` (every run when empty), with their
  /// fingerprints: one read transaction.
  virtual Result<RunWindow> ReadWindow(const RunFilter& filter, const std::string& since) = 0;

  /// Where a window must start to hold the latest `buckets` buckets of `by` (those whose runs came
  /// last) whole: the earliest run of those buckets among the runs of `filter` at or after `since`.
  /// `since` itself when the window has no more buckets than that, or when buckets interleave too much
  /// to tell without reading them all (runners). Reads only the runs of those buckets, so a trend of the
  /// latest commits costs the same in a history of a thousand runs or of a million.
  virtual Result<std::string> StartOfLatestBuckets(const RunFilter& filter, const std::string& since, TrendBy by,
                                                   size_t buckets) = 0;

  /// The latest `at` of the runs of `filter`; empty when there are none.
  virtual Result<std::string> LatestAt(const RunFilter& filter) = 0;

  /// Every stored run (tests, and a check that nothing was lost).
  virtual Result<uint64_t> RunCount() = 0;

  /// Closes the connection. Idempotent.
  virtual void Close() = 0;

 protected:
  HistoryStore() = default;
  HistoryStore(const HistoryStore&) = delete;
  HistoryStore& operator=(const HistoryStore&) = delete;
};

/// The schema version both stores write and read (docs/history.md). Bumped when the tables or the run
/// keys change; version 1 (issue 16's first landing) keyed runs by their JSON.
inline constexpr int kHistorySchemaVersion = 2;

/// Ok for a store without a schema yet (version 0) or of kHistorySchemaVersion; otherwise the Error
/// both stores give, naming the history as `shown`: a newer version says which this coder reads, an
/// older one to start a new history. A store of another version is refused, never misread.
Status AcceptSchemaVersion(int64_t version, std::string_view shown);

/// The commit hashes that start with `prefix`, whatever its case, as the half-open text range
/// [first, second): a range on the index rather than LIKE, whose escaping and case rules would need care.
std::pair<std::string, std::string> CommitPrefixRange(std::string_view prefix);

/// Whether `location` names a PostgreSQL database ("postgresql://..." or "postgres://...", the scheme in
/// any case, as libpq takes it) rather than a SQLite file.
bool IsPostgresLocation(std::string_view location);

/// `location` as messages and reports show it: every password in it written `***` (a URI's
/// `user:secret@`, whatever its scheme or case, and the value of every `password=`, `sslpassword=` or
/// percent-escaped spelling of them, in a query or a keyword/value string). Anything else as given.
std::string DisplayLocation(std::string_view location);

/// The passwords DisplayLocation hides, to hide them also where a library quotes them.
std::vector<std::string> LocationPasswords(std::string_view location);

/// `message` with every password of `location` in it written `***`.
std::string WithoutPasswords(std::string message, std::string_view location);

/// A run's identity, the SHA-256 in hex of what it measured, in a fixed binary form: its variant,
/// outcome and detail, every timing, its exit, its peaks and RSS samples, fingerprints, steps, held
/// slots and log tail. Not its index (a merge renumbers it), nor what the command line gave it (argv,
/// labels, the gate), nor its log, stacks and traffic, which only a run that measured the same to the
/// bit could share. A run is stored under it, followed by `#k` for the k-th further record of one batch
/// with the same key (runs that measured nothing, such as targets that could not be executed). Pure.
std::string RunKey(const RunRecord& run);

/// The keys a batch is stored under, by every backend: RunKey of each of `runs`, with `#k` for the k-th
/// further one with the same key. Computed on a thread of its own while the caller stores the runs
/// before them (100 000 runs of the built-in matrix: 0.47 s of hashing beside 1.0 s of storing them in
/// SQLite, measured once). `runs` must outlive it; not thread-safe (one caller takes the keys, in
/// order); the destructor stops and joins the thread. What the hashing throws, Next rethrows.
class RunKeyPipeline {
 public:
  explicit RunKeyPipeline(const std::vector<RunRecord>& runs);
  ~RunKeyPipeline();
  RunKeyPipeline(const RunKeyPipeline&) = delete;
  RunKeyPipeline& operator=(const RunKeyPipeline&) = delete;

  /// The key of the next run, waiting for it to be hashed. At most runs.size() calls.
  std::string Next();

 private:
  struct Shared;
  std::unique_ptr<Shared> shared_;
  std::unordered_map<std::string, int> seen_;  // a key without its occurrence → its records so far
  size_t next_ = 0;
};

/// Every key of a batch at once (RunKeyPipeline's, in order), for a store that needs them all before it
/// stores any (PostgreSQL sorts them).
std::vector<std::string> BatchRunKeys(const std::vector<RunRecord>& runs);

/// A condition both stores add to a count of a variant's runs: " AND r.outcome IN ('clean', ...)" over
/// every outcome. It changes no count, and lets the index on (outcome, variant, at) answer it: with it,
/// no index of its own on (variant, at) is needed, which an ingest would pay for on every run.
std::string EveryOutcomeSql();

/// The peak RSS a history keeps of a run: the higher of the kernel's and the sampled tree's.
int64_t StoredPeakRss(const RunRecord& run);

}  // namespace coder::harness
