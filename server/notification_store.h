#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "server/config_dir.h"
#include "server/log.h"

struct sqlite3;

namespace coder::server {

/// The durable half of the notifications manager: undelivered notifications in an SQLite database in the
/// config dir (WAL, synchronous=FULL: a commit is on disk before its callback runs, so it survives
/// kill -9, a crash and power loss). One writer thread groups every insert and delete queued while the
/// previous commit ran into one transaction (group commit): each request waits for one fsync however
/// many share it. Thread-safe.
class NotificationStore {
 public:
  enum class Failure { kNoSpace, kOther };
  struct WriteError {
    Failure failure;
    std::string message;
  };
  /// Called on the writer thread once the insert is committed (nullopt) or has failed (nothing kept).
  using InsertDone = std::function<void(std::optional<WriteError>)>;
  struct Row {
    uint64_t seq;
    std::string notification;  // the notification's JSON
  };

  /// Opens or creates `name` in `dir` (0600, never through a symlink; the database and its -wal and -shm
  /// files must be regular files of ours) and starts the writer thread.
  static Result<std::unique_ptr<NotificationStore>> Open(const ConfigDir& dir, const std::string& name, Logger& log);
  /// Commits what is still queued, stops the writer, closes the database.
  ~NotificationStore();
  NotificationStore(const NotificationStore&) = delete;
  NotificationStore& operator=(const NotificationStore&) = delete;

  /// Every stored notification, in seq order. Rows that are not a JSON object are moved to the `corrupt`
  /// table (kept, not deleted) and reported in `corrupt`.
  Result<std::vector<Row>> LoadAll(size_t* corrupt = nullptr);
  /// Inserts notifications with store-assigned seqs in one transaction, synchronously (a one-off import).
  Status InsertNow(const std::vector<std::string>& notifications);

  /// Queues an insert under `seq` (unique and larger than every stored one); `done` runs after its group
  /// commit. Never blocks on the disk.
  void Insert(uint64_t seq, std::string notification, InsertDone done);
  /// Queues the deletion of a delivered notification. A deletion that fails (a full disk) is retried with
  /// the next group; until it succeeds the notification would be delivered again after a restart.
  void Delete(uint64_t seq);
  /// Waits until everything queued before the call is committed or has failed. An error says how many
  /// deliveries could not be recorded.
  Status Flush();

  /// Insert transactions committed so far (fewer than inserts when requests share commits). Thread-safe.
  uint64_t insert_commits() const { return insert_commits_.load(); }

 private:
  struct PendingInsert {
    uint64_t seq;
    std::string notification;
    InsertDone done;
  };
  NotificationStore(sqlite3* db, std::string path, Logger& log);
  void WriterLoop();
  std::optional<WriteError> CommitInserts(const std::vector<PendingInsert>& inserts);
  std::optional<WriteError> CommitDeletes(const std::vector<uint64_t>& seqs);
  WriteError LastError(int rc, std::string_view what) const;
  Status Exec(const char* sql);

  sqlite3* db_;
  const std::string path_;
  Logger& log_;
  std::mutex mu_;
  std::condition_variable work_;
  std::condition_variable flushed_;
  std::vector<PendingInsert> inserts_;
  std::vector<uint64_t> deletes_;
  std::vector<uint64_t> failed_deletes_;  // touched under mu_
  uint64_t flush_requests_ = 0;
  uint64_t flushes_done_ = 0;
  bool stop_ = false;
  std::atomic<uint64_t> insert_commits_{0};
  std::thread writer_;
};

}  // namespace coder::server
