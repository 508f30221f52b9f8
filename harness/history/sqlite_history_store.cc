#include "harness/history/sqlite_history_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <thread>

#include "common/sqlite_statement.h"
#include "common/terminal_text.h"

namespace coder::harness {
namespace {

// How long a job waits for another's lock before it gives up.
constexpr std::chrono::milliseconds kBusyTimeout(30000);

// Runs keep only what `show` and `check` ask about: the reports stay the record of everything else.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY,
  run_key TEXT NOT NULL UNIQUE,
  at TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  branch TEXT NOT NULL,
  runner TEXT NOT NULL,
  ci_run_id TEXT NOT NULL,
  job_url TEXT NOT NULL,
  variant TEXT NOT NULL,
  outcome TEXT NOT NULL,
  latency_ms REAL,
  peak_rss_bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS run_fingerprints (
  fingerprint TEXT NOT NULL,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  PRIMARY KEY (fingerprint, run_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS runs_by_at ON runs(at);
CREATE INDEX IF NOT EXISTS runs_by_outcome_variant_at ON runs(outcome, variant, at);
CREATE INDEX IF NOT EXISTS runs_by_commit ON runs(commit_sha, at);
)sql";

// The conditions of a filter, as parameters ?2 (variant) and ?3 (branch). Only those given are written:
// "(?2 IS NULL OR r.variant = ?2)" would keep SQLite from using the variant's index (a check over a
// million runs went from milliseconds to half a second).
std::string FilterSql(const RunFilter& filter) {
  std::string sql;
  if (filter.variant) sql += " AND r.variant = ?2";
  if (filter.branch) sql += " AND r.branch = ?3";
  return sql;
}

// A transaction that rolls back unless committed, however its scope is left (an early return with an
// Error built from sqlite3_errmsg before the rollback runs, an exception such as bad_alloc).
class SqliteTransaction {
 public:
  explicit SqliteTransaction(sqlite3* db) : db_(db) {}
  ~SqliteTransaction() {
    if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  SqliteTransaction(const SqliteTransaction&) = delete;
  SqliteTransaction& operator=(const SqliteTransaction&) = delete;

  /// `begin` is "BEGIN" or "BEGIN IMMEDIATE"; false when it failed (sqlite3_errmsg says why).
  bool Begin(const char* begin) {
    open_ = sqlite3_exec(db_, begin, nullptr, nullptr, nullptr) == SQLITE_OK;
    return open_;
  }
  /// False when the commit failed; the destructor then rolls back.
  bool Commit() {
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return false;
    open_ = false;
    return true;
  }

 private:
  sqlite3* db_;
  bool open_ = false;
};

// The SQLite store: one file, WAL, every ingest one IMMEDIATE transaction.
class SqliteHistoryStore final : public HistoryStore {
 public:
  SqliteHistoryStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteHistoryStore() override { Close(); }

  Result<IngestCounts> Ingest(const RunOrigin& origin, const std::vector<RunRecord>& runs) override;
  Result<CommitRuns> FindCommit(std::string_view prefix) override;
  Result<std::pair<Proportion, Proportion>> CountAround(const RecurrenceSelector& selector, const RunFilter& filter,
                                                        const std::string& since) override;
  Result<RunWindow> ReadWindow(const RunFilter& filter, const std::string& since) override;
  Result<std::string> StartOfLatestBuckets(const RunFilter& filter, const std::string& since, TrendBy by,
                                           size_t buckets) override;
  Result<std::string> LatestAt(const RunFilter& filter) override;
  Result<uint64_t> RunCount() override;
  void Close() override;

  /// Runs `sql`; an Error names `what` (a long statement's description), else the statement.
  Status Exec(const char* sql, const char* what = nullptr);
  Result<int64_t> SchemaVersion();
  Status EnterWal();
  /// A file without a schema version that holds tables is some other program's database.
  /// The schema version, read in one read transaction with the file's tables: a file of version 0
  /// that holds tables is some other program's database (an Error). Together, because a coder creating
  /// the schema commits its tables with its version, so the two are seen both or neither.
  Result<int64_t> VersionOfAHistory();

  /// An Error naming the history, `what` and SQLite's last message.
  Error SqlError(std::string_view what) const;

 private:
  sqlite3* db_;
  std::string path_;
};

}  // namespace

Result<std::unique_ptr<HistoryStore>> OpenSqliteHistoryStore(const std::string& path) {
  const std::string shown = DisplayLocation(path);
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW, nullptr);
  if (rc != SQLITE_OK) {
    Error error{fmt::format("cannot open history {}: {}", shown, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc))};
    sqlite3_close(db);
    return error;
  }
  auto store = std::make_unique<SqliteHistoryStore>(db, shown);
  // Concurrent ingests wait for each other's transaction instead of failing at once.
  sqlite3_busy_timeout(db, static_cast<int>(kBusyTimeout.count()));
  // Before anything is written (the switch to WAL writes the file): a file that is not a history is left
  // as it was.
  auto version = store->VersionOfAHistory();
  if (!version) return version.error();
  if (auto st = AcceptSchemaVersion(*version, shown); !st) return st.error();
  if (auto st = store->EnterWal(); !st) return st.error();
  // FULL syncs the log at each commit, so a run the command said it stored survives a crash or a
  // power cut. An 8 MiB page cache ingests a tenth faster than the 2 MiB default (bench/history_bench.cc).
  for (const char* pragma : {"PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON", "PRAGMA cache_size=-8192"}) {
    if (auto st = store->Exec(pragma); !st) return st.error();
  }
  if (*version == 0) {
    SqliteTransaction transaction(db);
    if (!transaction.Begin("BEGIN IMMEDIATE")) return store->SqlError("BEGIN IMMEDIATE");
    // Again under the write lock: another coder may have created its own schema meanwhile, which this
    // one must neither extend nor label as its own version.
    version = store->SchemaVersion();
    if (version && *version == 0) {
      if (auto st = store->Exec(kSchema, "create the schema"); !st) version = st.error();
    }
    if (version && *version == 0) {
      if (auto st = store->Exec(fmt::format("PRAGMA user_version={}", kHistorySchemaVersion).c_str()); !st)
        version = st.error();
      else version = kHistorySchemaVersion;
    }
    if (!version) return version.error();
    if (!transaction.Commit()) return store->SqlError("COMMIT");
    if (auto st = AcceptSchemaVersion(*version, shown); !st) return st.error();
  }
  return std::unique_ptr<HistoryStore>(std::move(store));
}

Status SqliteHistoryStore::EnterWal() {
  // WAL lets readers go on while one job writes. Several jobs opening a new file at once race to switch
  // it, and the loser can get SQLITE_BUSY at once, without the busy handler (seven concurrent ingests
  // under load: one in ten runs): the switch is retried until the busy timeout.
  const auto deadline = std::chrono::steady_clock::now() + kBusyTimeout;
  for (auto pause = std::chrono::milliseconds(1);; pause = std::min(pause * 2, std::chrono::milliseconds(50))) {
    SqliteStatement wal(db_, "PRAGMA journal_mode=WAL");
    const int rc = wal.ok() ? wal.Step() : wal.prepare_rc();
    if (rc == SQLITE_ROW) {
      if (wal.Text(0) == "wal") return Ok{};
      return Error{fmt::format("history {}: cannot use WAL mode (journal mode {})", path_, wal.Text(0))};
    }
    if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || std::chrono::steady_clock::now() >= deadline)
      return SqlError("PRAGMA journal_mode=WAL");
    std::this_thread::sleep_for(pause);
  }
}

Result<int64_t> SqliteHistoryStore::VersionOfAHistory() {
  // A read transaction: rolling it back at the end changes nothing, whatever was read.
  SqliteTransaction transaction(db_);
  if (!transaction.Begin("BEGIN")) return SqlError("BEGIN");
  auto version = SchemaVersion();
  std::string tables;
  if (version && *version == 0) {
    SqliteStatement names(db_, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name LIMIT 4");
    int rc = names.prepare_rc();
    if (names.ok())
      while ((rc = names.Step()) == SQLITE_ROW) tables += (tables.empty() ? "" : ", ") + names.Text(0);
    if (rc != SQLITE_DONE) version = SqlError("read the tables");
  }
  if (version && !tables.empty())
    return Error{
        fmt::format("history {} is not a coder history: it holds other tables ({}) and no schema version; "
                    "give a new file",
                    path_, TerminalSafe(tables))};
  return version;
}

Result<int64_t> SqliteHistoryStore::SchemaVersion() {
  // Finalized before anything writes: a statement left open holds a read transaction, whose snapshot
  // another job's commit makes stale, and a stale one cannot become a write (SQLITE_BUSY at once,
  // without the busy timeout).
  SqliteStatement version(db_, "PRAGMA user_version");
  if (!version.ok() || version.Step() != SQLITE_ROW) return SqlError("read the schema version");
  return version.Int(0);
}

void SqliteHistoryStore::Close() {
  if (db_ == nullptr) return;
  sqlite3_close_v2(db_);
  db_ = nullptr;
}

Error SqliteHistoryStore::SqlError(std::string_view what) const {
  if (db_ == nullptr) return Error{fmt::format("history {}: {}: closed", path_, what)};
  return Error{fmt::format("history {}: {}: {}", path_, what, sqlite3_errmsg(db_))};
}

Status SqliteHistoryStore::Exec(const char* sql, const char* what) {
  if (db_ == nullptr) return SqlError("closed");
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return SqlError(what ? what : sql);
  return Ok{};
}

Result<IngestCounts> SqliteHistoryStore::Ingest(const RunOrigin& origin, const std::vector<RunRecord>& runs) {
  if (db_ == nullptr) return SqlError("ingest");
  // IMMEDIATE takes the write lock at once: two ingests that both read first and then upgraded would
  // deadlock, one of them failing with SQLITE_BUSY despite the timeout.
  SqliteTransaction transaction(db_);
  if (!transaction.Begin("BEGIN IMMEDIATE")) return SqlError("BEGIN IMMEDIATE");
  SqliteStatement insert(
      db_,
      "INSERT INTO runs (run_key, at, commit_sha, branch, runner, ci_run_id, job_url, variant, outcome, "
      "latency_ms, peak_rss_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT (run_key) DO NOTHING");
  SqliteStatement fingerprint(db_, "INSERT OR IGNORE INTO run_fingerprints (fingerprint, run_id) VALUES (?, ?)");
  if (!insert.ok() || !fingerprint.ok()) return SqlError("prepare the ingest");
  IngestCounts counts;
  RunKeyPipeline keys(runs);
  for (const RunRecord& run : runs) {
    insert.Bind(1, keys.Next());
    insert.Bind(2, origin.at);
    insert.Bind(3, origin.commit);
    insert.Bind(4, origin.branch);
    insert.Bind(5, origin.runner);
    insert.Bind(6, origin.ci_run_id);
    insert.Bind(7, origin.job_url);
    insert.Bind(8, run.variant);
    insert.Bind(9, ToString(run.outcome));
    insert.Bind(10, run.latency_ms);
    insert.Bind(11, StoredPeakRss(run));
    if (insert.Step() != SQLITE_DONE) return SqlError("store a run");
    insert.Reset();
    if (sqlite3_changes(db_) == 0) {
      ++counts.already;
      continue;
    }
    ++counts.added;
    const int64_t id = sqlite3_last_insert_rowid(db_);
    for (const std::string& name : run.fingerprints) {
      fingerprint.Bind(1, name);
      fingerprint.Bind(2, id);
      if (fingerprint.Step() != SQLITE_DONE) return SqlError("store a fingerprint");
      fingerprint.Reset();
    }
  }
  if (!transaction.Commit()) return SqlError("COMMIT");
  return counts;
}

Result<HistoryStore::CommitRuns> SqliteHistoryStore::FindCommit(std::string_view prefix) {
  if (db_ == nullptr) return SqlError("find a commit");
  const auto [low, high] = CommitPrefixRange(prefix);
  CommitRuns found;
  {
    SqliteStatement commits(db_,
                            "SELECT DISTINCT commit_sha FROM runs WHERE commit_sha >= ? AND commit_sha < ? LIMIT 2");
    if (!commits.ok()) return SqlError("find a commit");
    commits.Bind(1, low);
    commits.Bind(2, high);
    int rc;
    while ((rc = commits.Step()) == SQLITE_ROW) found.commits.push_back(commits.Text(0));
    if (rc != SQLITE_DONE) return SqlError("find a commit");
  }
  if (found.commits.size() != 1) return found;
  SqliteStatement first(db_, "SELECT MIN(at) FROM runs WHERE commit_sha = ?");
  if (!first.ok()) return SqlError("find a commit");
  first.Bind(1, found.commits[0]);
  if (first.Step() != SQLITE_ROW) return SqlError("find a commit");
  found.first_at = first.Text(0);
  return found;
}

Result<std::pair<Proportion, Proportion>> SqliteHistoryStore::CountAround(const RecurrenceSelector& selector,
                                                                          const RunFilter& filter,
                                                                          const std::string& since) {
  if (db_ == nullptr) return SqlError("count runs");
  const std::string where = FilterSql(filter);
  const std::string all =
      "SELECT COUNT(*) FROM runs r WHERE r.at {} ?1" + where + (filter.variant ? EveryOutcomeSql() : "");
  const std::string hits = selector.kind == RecurrenceSelector::Kind::kOutcome
                               ? "SELECT COUNT(*) FROM runs r WHERE r.at {} ?1" + where + " AND r.outcome = ?4"
                               : "SELECT COUNT(*) FROM run_fingerprints f JOIN runs r ON r.id = f.run_id "
                                 "WHERE f.fingerprint = ?4 AND r.at {} ?1" +
                                     where;
  // One read transaction: an ingest committing between two counts could otherwise give more hits than
  // runs, or a before and a since from different states of the history.
  SqliteTransaction transaction(db_);
  if (!transaction.Begin("BEGIN")) return SqlError("BEGIN");
  std::pair<Proportion, Proportion> counts;
  for (auto [side, op] : {std::pair{&counts.first, "<"}, std::pair{&counts.second, ">="}}) {
    for (auto [sql, out] : {std::pair{&all, &side->runs}, std::pair{&hits, &side->hits}}) {
      SqliteStatement count(db_, fmt::format(fmt::runtime(*sql), op).c_str());
      if (!count.ok()) return SqlError("count runs");
      count.Bind(1, since);
      if (filter.variant) count.Bind(2, *filter.variant);
      if (filter.branch) count.Bind(3, *filter.branch);
      if (sql == &hits) count.Bind(4, selector.name);
      if (count.Step() != SQLITE_ROW) return SqlError("count runs");
      *out = static_cast<uint64_t>(count.Int(0));
    }
  }
  if (!transaction.Commit()) return SqlError("COMMIT");
  return counts;
}

Result<RunWindow> SqliteHistoryStore::ReadWindow(const RunFilter& filter, const std::string& since) {
  if (db_ == nullptr) return SqlError("read runs");
  const std::string where = " WHERE r.at >= ?1" + FilterSql(filter);
  const std::string runs_sql =
      "SELECT r.id, r.at, r.commit_sha, r.branch, r.runner, r.variant, r.outcome, r.latency_ms, r.peak_rss_bytes "
      "FROM runs r" +
      where + " ORDER BY r.at, r.id";
  const std::string fingerprints_sql =
      "SELECT f.run_id, f.fingerprint FROM run_fingerprints f JOIN runs r ON r.id = f.run_id" + where;
  // One read transaction: the fingerprints must be those of the runs read, not of a later ingest's.
  SqliteTransaction transaction(db_);
  if (!transaction.Begin("BEGIN")) return SqlError("BEGIN");
  auto bind = [&](SqliteStatement& statement) {
    statement.Bind(1, since);
    if (filter.variant) statement.Bind(2, *filter.variant);
    if (filter.branch) statement.Bind(3, *filter.branch);
  };
  RunWindow window;
  {
    SqliteStatement runs(db_, runs_sql.c_str());
    if (!runs.ok()) return SqlError("read runs");
    bind(runs);
    int rc;
    while ((rc = runs.Step()) == SQLITE_ROW) {
      StoredRun& run = window.runs.emplace_back();
      run.id = runs.Int(0);
      run.at = runs.Text(1);
      run.commit = runs.Text(2);
      run.branch = runs.Text(3);
      run.runner = runs.Text(4);
      run.variant = runs.Text(5);
      run.outcome = runs.Text(6);
      if (sqlite3_column_type(runs.get(), 7) != SQLITE_NULL) run.latency_ms = sqlite3_column_double(runs.get(), 7);
      run.peak_rss_bytes = runs.Int(8);
    }
    if (rc != SQLITE_DONE) return SqlError("read runs");
  }
  {
    SqliteStatement fingerprints(db_, fingerprints_sql.c_str());
    if (!fingerprints.ok()) return SqlError("read fingerprints");
    bind(fingerprints);
    int rc;
    while ((rc = fingerprints.Step()) == SQLITE_ROW)
      window.fingerprints.push_back({fingerprints.Int(0), fingerprints.Text(1)});
    if (rc != SQLITE_DONE) return SqlError("read fingerprints");
  }
  if (!transaction.Commit()) return SqlError("COMMIT");
  return window;
}

Result<std::string> SqliteHistoryStore::StartOfLatestBuckets(const RunFilter& filter, const std::string& since,
                                                             TrendBy by, size_t buckets) {
  if (db_ == nullptr) return SqlError("find the latest buckets");
  if (by == TrendBy::kRunner || buckets == 0) return since;
  // Backwards through the window by time until a bucket beyond the latest `buckets` appears: only the
  // runs of those buckets are read.
  const std::string walk = std::string("SELECT ") + (by == TrendBy::kCommit ? "r.commit_sha" : "substr(r.at, 1, 10)") +
                           " FROM runs r WHERE r.at >= ?1" + FilterSql(filter) + " ORDER BY r.at DESC";
  std::vector<std::string> keys;
  {
    SqliteStatement latest(db_, walk.c_str());
    if (!latest.ok()) return SqlError("find the latest buckets");
    latest.Bind(1, since);
    if (filter.variant) latest.Bind(2, *filter.variant);
    if (filter.branch) latest.Bind(3, *filter.branch);
    int rc;
    while ((rc = latest.Step()) == SQLITE_ROW) {
      std::string key = latest.Text(0);
      if (std::find(keys.begin(), keys.end(), key) != keys.end()) continue;
      if (keys.size() == buckets) break;
      keys.push_back(std::move(key));
    }
    if (rc == SQLITE_DONE) return since;  // no more buckets than asked: the whole window
    if (rc != SQLITE_ROW) return SqlError("find the latest buckets");
  }
  if (by == TrendBy::kDay) return std::max(since, *std::min_element(keys.begin(), keys.end()) + "T00:00:00.000Z");
  // A commit's runs may have begun before the latest run of an older commit: its earliest, by its index.
  SqliteStatement first(
      db_, ("SELECT MIN(r.at) FROM runs r WHERE r.commit_sha = ?4 AND r.at >= ?1" + FilterSql(filter)).c_str());
  if (!first.ok()) return SqlError("find the latest buckets");
  std::string start;
  for (const std::string& key : keys) {
    first.Bind(1, since);
    if (filter.variant) first.Bind(2, *filter.variant);
    if (filter.branch) first.Bind(3, *filter.branch);
    first.Bind(4, key);
    if (first.Step() != SQLITE_ROW) return SqlError("find the latest buckets");
    const std::string at = first.Text(0);
    if (start.empty() || at < start) start = at;
    first.Reset();
  }
  return start;
}

Result<std::string> SqliteHistoryStore::LatestAt(const RunFilter& filter) {
  if (db_ == nullptr) return SqlError("find the latest run");
  const std::string sql = "SELECT MAX(r.at) FROM runs r WHERE 1" + FilterSql(filter);
  SqliteStatement latest(db_, sql.c_str());
  if (!latest.ok()) return SqlError("find the latest run");
  if (filter.variant) latest.Bind(2, *filter.variant);
  if (filter.branch) latest.Bind(3, *filter.branch);
  if (latest.Step() != SQLITE_ROW) return SqlError("find the latest run");
  return latest.Text(0);
}

Result<uint64_t> SqliteHistoryStore::RunCount() {
  if (db_ == nullptr) return SqlError("count runs");
  SqliteStatement count(db_, "SELECT COUNT(*) FROM runs");
  if (!count.ok() || count.Step() != SQLITE_ROW) return SqlError("count runs");
  return static_cast<uint64_t>(count.Int(0));
}

}  // namespace coder::harness
