#include "harness/history/history_store.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/sqlite_statement.h"

namespace coder::harness {
namespace {

// How long a job waits for another's lock before it gives up.
constexpr std::chrono::milliseconds kBusyTimeout(30000);

// Bumped when the tables change; a file of a newer version is refused rather than misread.
constexpr int kSchemaVersion = 1;

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
CREATE INDEX IF NOT EXISTS runs_by_variant_at ON runs(variant, at);
CREATE INDEX IF NOT EXISTS runs_by_outcome_at ON runs(outcome, at);
CREATE INDEX IF NOT EXISTS runs_by_commit ON runs(commit_sha, at);
)sql";

}  // namespace

std::string RunKey(const RunRecord& run) {
  nlohmann::json record = run.ToJson();
  record.erase("index");
  const std::string text = record.dump();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
  std::string key;
  key.reserve(2 * size);
  for (unsigned int i = 0; i < size; ++i) key += fmt::format("{:02x}", digest[i]);
  return key;
}

Result<std::unique_ptr<HistoryStore>> HistoryStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW, nullptr);
  if (rc != SQLITE_OK) {
    Error error{fmt::format("cannot open history {}: {}", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc))};
    sqlite3_close(db);
    return error;
  }
  std::unique_ptr<HistoryStore> store(new HistoryStore(db, path));
  // Concurrent ingests wait for each other's transaction instead of failing at once.
  sqlite3_busy_timeout(db, static_cast<int>(kBusyTimeout.count()));
  if (auto st = store->EnterWal(); !st) return st.error();
  // FULL syncs the log at each commit, so a run the command said it stored survives a crash or a
  // power cut.
  for (const char* pragma : {"PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
    if (auto st = store->Exec(pragma); !st) return st.error();
  }
  auto version = store->SchemaVersion();
  if (!version) return version.error();
  if (*version < kSchemaVersion) {
    if (auto st = store->Exec("BEGIN IMMEDIATE"); !st) return st.error();
    // Again under the write lock: a newer coder may have created its own schema meanwhile, which this
    // one must neither extend nor label as its own version.
    version = store->SchemaVersion();
    if (version && *version < kSchemaVersion) {
      if (auto st = store->Exec(kSchema); !st) version = st.error();
    }
    if (version && *version < kSchemaVersion) {
      if (auto st = store->Exec(fmt::format("PRAGMA user_version={}", kSchemaVersion).c_str()); !st)
        version = st.error();
      else version = kSchemaVersion;
    }
    if (!version) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return version.error();
    }
    if (auto st = store->Exec("COMMIT"); !st) return st.error();
  }
  if (*version > kSchemaVersion)
    return Error{
        fmt::format("history {} has schema version {}; this coder reads version {}", path, *version, kSchemaVersion)};
  return store;
}

Status HistoryStore::EnterWal() {
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

Result<int64_t> HistoryStore::SchemaVersion() {
  // Finalized before anything writes: a statement left open holds a read transaction, whose snapshot
  // another job's commit makes stale, and a stale one cannot become a write (SQLITE_BUSY at once,
  // without the busy timeout).
  SqliteStatement version(db_, "PRAGMA user_version");
  if (!version.ok() || version.Step() != SQLITE_ROW) return SqlError("read the schema version");
  return version.Int(0);
}

HistoryStore::~HistoryStore() { Close(); }

void HistoryStore::Close() {
  if (db_ == nullptr) return;
  sqlite3_close_v2(db_);
  db_ = nullptr;
}

Error HistoryStore::SqlError(std::string_view what) const {
  if (db_ == nullptr) return Error{fmt::format("history {}: {}: closed", path_, what)};
  return Error{fmt::format("history {}: {}: {}", path_, what, sqlite3_errmsg(db_))};
}

Status HistoryStore::Exec(const char* sql) {
  if (db_ == nullptr) return SqlError("closed");
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return SqlError(sql);
  return Ok{};
}

Result<IngestCounts> HistoryStore::Ingest(const RunOrigin& origin, const std::vector<RunRecord>& runs) {
  if (db_ == nullptr) return SqlError("ingest");
  // IMMEDIATE takes the write lock at once: two ingests that both read first and then upgraded would
  // deadlock, one of them failing with SQLITE_BUSY despite the timeout.
  if (auto st = Exec("BEGIN IMMEDIATE"); !st) return st.error();
  auto rollback = [this](Error e) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return e;
  };
  SqliteStatement insert(
      db_,
      "INSERT INTO runs (run_key, at, commit_sha, branch, runner, ci_run_id, job_url, variant, outcome, "
      "latency_ms, peak_rss_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT (run_key) DO NOTHING");
  SqliteStatement fingerprint(db_, "INSERT OR IGNORE INTO run_fingerprints (fingerprint, run_id) VALUES (?, ?)");
  if (!insert.ok() || !fingerprint.ok()) return rollback(SqlError("prepare the ingest"));
  IngestCounts counts;
  std::map<std::string, int> seen;  // a key without its occurrence → its records so far in this batch
  for (const RunRecord& run : runs) {
    std::string key = RunKey(run);
    if (const int occurrence = seen[key]++; occurrence > 0) key += fmt::format("#{}", occurrence);
    insert.Bind(1, key);
    insert.Bind(2, origin.at);
    insert.Bind(3, origin.commit);
    insert.Bind(4, origin.branch);
    insert.Bind(5, origin.runner);
    insert.Bind(6, origin.ci_run_id);
    insert.Bind(7, origin.job_url);
    insert.Bind(8, run.variant);
    insert.Bind(9, ToString(run.outcome));
    insert.Bind(10, run.latency_ms);
    insert.Bind(11, static_cast<int64_t>(std::max(run.kernel_peak_rss_bytes, run.tree_peak_rss_bytes)));
    if (insert.Step() != SQLITE_DONE) return rollback(SqlError("store a run"));
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
      if (fingerprint.Step() != SQLITE_DONE) return rollback(SqlError("store a fingerprint"));
      fingerprint.Reset();
    }
  }
  if (auto st = Exec("COMMIT"); !st) return rollback(st.error());
  return counts;
}

Result<HistoryStore::CommitRuns> HistoryStore::FindCommit(std::string_view prefix) {
  if (db_ == nullptr) return SqlError("find a commit");
  // A range on the index rather than LIKE, whose escaping and case rules would need care.
  std::string low(prefix);
  for (char& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string high = low + "\x7f";
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

Result<std::pair<Proportion, Proportion>> HistoryStore::CountAround(const RecurrenceSelector& selector,
                                                                    const RunFilter& filter, const std::string& since) {
  if (db_ == nullptr) return SqlError("count runs");
  const std::string where = " AND (?2 IS NULL OR r.variant = ?2) AND (?3 IS NULL OR r.branch = ?3)";
  const std::string all = "SELECT COUNT(*) FROM runs r WHERE r.at {} ?1" + where;
  const std::string hits = selector.kind == RecurrenceSelector::Kind::kOutcome
                               ? all + " AND r.outcome = ?4"
                               : "SELECT COUNT(*) FROM run_fingerprints f JOIN runs r ON r.id = f.run_id "
                                 "WHERE f.fingerprint = ?4 AND r.at {} ?1" +
                                     where;
  // One read transaction: an ingest committing between two counts could otherwise give more hits than
  // runs, or a before and a since from different states of the history.
  if (auto st = Exec("BEGIN"); !st) return st.error();
  auto fail = [this](std::string_view what) {
    Error error = SqlError(what);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return error;
  };
  std::pair<Proportion, Proportion> counts;
  for (auto [side, op] : {std::pair{&counts.first, "<"}, std::pair{&counts.second, ">="}}) {
    for (auto [sql, out] : {std::pair{&all, &side->runs}, std::pair{&hits, &side->hits}}) {
      SqliteStatement count(db_, fmt::format(fmt::runtime(*sql), op).c_str());
      if (!count.ok()) return fail("count runs");
      count.Bind(1, since);
      if (filter.variant) count.Bind(2, *filter.variant);
      if (filter.branch) count.Bind(3, *filter.branch);
      count.Bind(4, selector.name);
      if (count.Step() != SQLITE_ROW) return fail("count runs");
      *out = static_cast<uint64_t>(count.Int(0));
    }
  }
  if (auto st = Exec("COMMIT"); !st) return st.error();
  return counts;
}

Result<uint64_t> HistoryStore::RunCount() {
  if (db_ == nullptr) return SqlError("count runs");
  SqliteStatement count(db_, "SELECT COUNT(*) FROM runs");
  if (!count.ok() || count.Step() != SQLITE_ROW) return SqlError("count runs");
  return static_cast<uint64_t>(count.Int(0));
}

}  // namespace coder::harness
