#include "server/notification_store.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/sqlite_statement.h"

namespace coder::server {
namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS pending(seq INTEGER PRIMARY KEY, notification TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS corrupt(seq INTEGER, notification BLOB, moved_at TEXT);";

}  // namespace

Result<std::unique_ptr<NotificationStore>> NotificationStore::Open(const ConfigDir& dir, const std::string& name,
                                                                   Logger& log) {
  for (const std::string& file : {name, name + "-wal", name + "-shm", name + "-journal"}) {
    if (auto checked = dir.CheckRegular(file); !checked) return checked.error();
  }
  // Created by us first, so it is 0600 (SQLite would create it 0644) and never through a symlink.
  if (auto created = dir.CreateIfMissing(name, 0600); !created) return created.error();
  const std::string path = dir.PathOf(name).string();
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message =
        fmt::format("opening the notifications database {}: {}", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return Error{std::move(message)};
  }
  std::unique_ptr<NotificationStore> store(new NotificationStore(db, path, log));
  sqlite3_busy_timeout(db, 5000);
  // WAL with synchronous=FULL: every commit fsyncs the log before it returns.
  {
    SqliteStatement wal(db, "PRAGMA journal_mode=WAL");
    if (wal.prepare_rc() != SQLITE_OK || sqlite3_step(wal.get()) != SQLITE_ROW ||
        std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(wal.get(), 0))) != "wal")
      return Error{fmt::format("the notifications database {} cannot use WAL mode: {}", path, sqlite3_errmsg(db))};
  }
  for (const char* sql : {"PRAGMA synchronous=FULL", kSchema}) {
    if (auto ok = store->Exec(sql); !ok)
      return Error{fmt::format("the notifications database {}: {}", path, ok.error().message)};
  }
  store->writer_ = std::thread([s = store.get()] { s->WriterLoop(); });
  return store;
}

NotificationStore::NotificationStore(sqlite3* db, std::string path, Logger& log)
    : db_(db), path_(std::move(path)), log_(log) {}

NotificationStore::~NotificationStore() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_.notify_all();
  if (writer_.joinable()) writer_.join();
  sqlite3_close_v2(db_);
}

Status NotificationStore::Exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) == SQLITE_OK) return Ok{};
  std::string text = message ? message : sqlite3_errmsg(db_);
  sqlite3_free(message);
  return Error{std::move(text)};
}

NotificationStore::WriteError NotificationStore::LastError(int rc, std::string_view what) const {
  // SQLite reports ENOSPC as SQLITE_FULL from its writes, but as an I/O error from the WAL index's
  // mmap and some fsyncs: the system errno tells them apart.
  const int sys = sqlite3_system_errno(db_);
  const bool full = (rc & 0xff) == SQLITE_FULL || sys == ENOSPC || sys == EDQUOT;
  std::string message = fmt::format("{} in {}: {}{}", what, path_, sqlite3_errmsg(db_),
                                    sys ? fmt::format(" ({})", std::strerror(sys)) : "");
  return {full ? Failure::kNoSpace : Failure::kOther, std::move(message)};
}

Result<std::vector<NotificationStore::Row>> NotificationStore::LoadAll(size_t* corrupt) {
  std::vector<Row> rows;
  std::vector<uint64_t> bad;
  {
    SqliteStatement select(db_, "SELECT seq, notification FROM pending ORDER BY seq");
    if (select.prepare_rc() != SQLITE_OK) return Error{LastError(select.prepare_rc(), "reading").message};
    int rc;
    while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
      const auto seq = static_cast<uint64_t>(sqlite3_column_int64(select.get(), 0));
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(select.get(), 1));
      std::string json = text ? text : "";
      // Each row stands alone: a bad one is moved aside and the rows after it still load.
      if (!nlohmann::json::accept(json) || !nlohmann::json::parse(json).is_object()) {
        bad.push_back(seq);
        continue;
      }
      rows.push_back({seq, std::move(json)});
    }
    if (rc != SQLITE_DONE) return Error{LastError(rc, "reading").message};
  }
  if (!bad.empty()) {
    if (auto begun = Exec("BEGIN IMMEDIATE"); !begun) return begun.error();
    for (uint64_t seq : bad) {
      SqliteStatement move(db_,
                           "INSERT INTO corrupt SELECT seq, notification, datetime('now') FROM pending WHERE seq=?");
      sqlite3_bind_int64(move.get(), 1, static_cast<sqlite3_int64>(seq));
      SqliteStatement drop(db_, "DELETE FROM pending WHERE seq=?");
      sqlite3_bind_int64(drop.get(), 1, static_cast<sqlite3_int64>(seq));
      if (sqlite3_step(move.get()) != SQLITE_DONE || sqlite3_step(drop.get()) != SQLITE_DONE) {
        (void)Exec("ROLLBACK");
        return Error{LastError(SQLITE_ERROR, "moving a corrupt row aside").message};
      }
    }
    if (auto committed = Exec("COMMIT"); !committed) return committed.error();
  }
  if (corrupt) *corrupt = bad.size();
  return rows;
}

Status NotificationStore::InsertNow(const std::vector<std::string>& notifications) {
  if (auto begun = Exec("BEGIN IMMEDIATE"); !begun) return begun.error();
  SqliteStatement insert(db_, "INSERT INTO pending(notification) VALUES(?)");
  for (const auto& n : notifications) {
    sqlite3_bind_text(insert.get(), 1, n.data(), static_cast<int>(n.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(insert.get());
    sqlite3_reset(insert.get());
    if (rc != SQLITE_DONE) {
      auto error = LastError(rc, "importing");
      (void)Exec("ROLLBACK");
      return Error{error.message};
    }
  }
  if (auto committed = Exec("COMMIT"); !committed) {
    (void)Exec("ROLLBACK");
    return committed.error();
  }
  return Ok{};
}

void NotificationStore::Insert(uint64_t seq, std::string notification, InsertDone done) {
  {
    std::lock_guard lock(mu_);
    inserts_.push_back({seq, std::move(notification), std::move(done)});
  }
  work_.notify_one();
}

void NotificationStore::Delete(uint64_t seq) {
  {
    std::lock_guard lock(mu_);
    deletes_.push_back(seq);
  }
  work_.notify_one();
}

Status NotificationStore::Flush() {
  std::unique_lock lock(mu_);
  const uint64_t ticket = ++flush_requests_;
  work_.notify_one();
  flushed_.wait(lock, [&] { return flushes_done_ >= ticket; });
  if (failed_deletes_.empty()) return Ok{};
  return Error{
      fmt::format("{} delivered notifications could not be marked delivered in {} (they will be "
                  "delivered again after the next start)",
                  failed_deletes_.size(), path_)};
}

void NotificationStore::WriterLoop() {
  std::unique_lock lock(mu_);
  bool retried_at_stop = false;
  for (;;) {
    work_.wait(lock,
               [&] { return stop_ || !inserts_.empty() || !deletes_.empty() || flush_requests_ > flushes_done_; });
    if (stop_ && inserts_.empty() && deletes_.empty()) {
      // Failed deletions get one last try at the end, then are left for the next start to deliver again.
      if (failed_deletes_.empty() || retried_at_stop) break;
      retried_at_stop = true;
    }
    std::vector<PendingInsert> inserts;
    inserts.swap(inserts_);
    std::vector<uint64_t> deletes;
    deletes.swap(deletes_);
    // Failed deletions are retried along with new work (or a flush), never in a loop of their own.
    deletes.insert(deletes.end(), failed_deletes_.begin(), failed_deletes_.end());
    failed_deletes_.clear();
    const uint64_t ticket = flush_requests_;
    lock.unlock();

    if (!inserts.empty()) {
      const auto error = CommitInserts(inserts);
      for (auto& insert : inserts) insert.done(error);
    }
    std::optional<WriteError> delete_error;
    if (!deletes.empty()) delete_error = CommitDeletes(deletes);
    if (delete_error)
      log_.Warn("could not mark delivered notifications as delivered; retrying with the next commit",
                {{"count", deletes.size()}, {"error", delete_error->message}});

    lock.lock();
    if (delete_error) failed_deletes_.insert(failed_deletes_.end(), deletes.begin(), deletes.end());
    flushes_done_ = ticket;
    flushed_.notify_all();
  }
  flushes_done_ = flush_requests_;
  flushed_.notify_all();
}

std::optional<NotificationStore::WriteError> NotificationStore::CommitInserts(
    const std::vector<PendingInsert>& inserts) {
  int rc = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return LastError(rc, "storing a notification");
  SqliteStatement insert(db_, "INSERT INTO pending(seq, notification) VALUES(?, ?)");
  if (insert.prepare_rc() != SQLITE_OK) {
    auto error = LastError(insert.prepare_rc(), "storing a notification");
    (void)Exec("ROLLBACK");
    return error;
  }
  for (const auto& i : inserts) {
    sqlite3_bind_int64(insert.get(), 1, static_cast<sqlite3_int64>(i.seq));
    sqlite3_bind_text(insert.get(), 2, i.notification.data(), static_cast<int>(i.notification.size()), SQLITE_STATIC);
    rc = sqlite3_step(insert.get());
    sqlite3_reset(insert.get());
    if (rc != SQLITE_DONE) {
      auto error = LastError(rc, "storing a notification");
      (void)Exec("ROLLBACK");
      return error;
    }
  }
  rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    auto error = LastError(rc, "committing notifications");
    if (!sqlite3_get_autocommit(db_)) (void)Exec("ROLLBACK");
    return error;
  }
  ++insert_commits_;
  return std::nullopt;
}

std::optional<NotificationStore::WriteError> NotificationStore::CommitDeletes(const std::vector<uint64_t>& seqs) {
  int rc = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return LastError(rc, "marking notifications delivered");
  SqliteStatement drop(db_, "DELETE FROM pending WHERE seq=?");
  for (uint64_t seq : seqs) {
    sqlite3_bind_int64(drop.get(), 1, static_cast<sqlite3_int64>(seq));
    rc = sqlite3_step(drop.get());
    sqlite3_reset(drop.get());
    if (rc != SQLITE_DONE) {
      auto error = LastError(rc, "marking notifications delivered");
      (void)Exec("ROLLBACK");
      return error;
    }
  }
  rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    auto error = LastError(rc, "marking notifications delivered");
    if (!sqlite3_get_autocommit(db_)) (void)Exec("ROLLBACK");
    return error;
  }
  return std::nullopt;
}

}  // namespace coder::server
