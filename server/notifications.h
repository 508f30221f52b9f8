#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "server/config_dir.h"
#include "server/log.h"
#include "server/notification_store.h"

namespace coder::server {

struct Notification {
  std::string id;
  std::string title;
  std::string body;
  std::string severity;  // info, warning or error
  std::string created_at;

  nlohmann::json ToJson() const;
  static Result<Notification> FromJson(const nlohmann::json& j);
};

/// A receiver of notifications, implemented by WebSocket watch sessions. Deliver() is called without the
/// manager's lock held, from the thread that enqueued or registered; the watcher calls
/// NotificationsManager::MarkDelivered(seq) once the notification is written to its peer.
class NotificationWatcher {
 public:
  virtual ~NotificationWatcher() = default;
  virtual void Deliver(const Notification& n, uint64_t seq) = 0;
};

/// Accepts notifications into a bounded queue and broadcasts each to every watcher; a notification stays
/// pending until at least one watcher has written it. With a store, a notification is accepted only once
/// it is committed to the database (it survives kill -9), and a delivered one is deleted from it; without
/// one (tests, fuzzers) nothing outlives the process. On Close() it drains (waits, up to a deadline, for
/// watchers to take what is pending) and flushes the store. Delivery is at least once: clients may see
/// an id twice across a restart. Thread-safe.
class NotificationsManager {
 public:
  enum class RejectReason { kInvalid, kQueueFull, kClosed, kNoSpace, kStorageFailed };
  struct Rejection {
    RejectReason reason;
    std::string message;
  };
  using Outcome = std::variant<Notification, Rejection>;
  /// Runs exactly once: on the calling thread for a rejection found up front, else on the store's
  /// writer thread once the notification is durable (or could not be made so).
  using EnqueueDone = std::function<void(Outcome)>;

  NotificationsManager(std::unique_ptr<NotificationStore> store, size_t capacity, Logger& log);
  /// Stops the store first: commits still queued complete into a manager that is still whole.
  ~NotificationsManager();

  /// Loads notifications a previous run could not deliver, importing once the old JSON state file
  /// (`legacy_state_file` in `dir`, the format before the database: then removed, or quarantined under a
  /// unique name if any entry of it is bad or it is not a regular file; its good entries are kept).
  /// Call before serving.
  Status LoadPending(const ConfigDir* dir = nullptr, const std::string& legacy_state_file = "");

  /// Validates and accepts a notification request body; `done` gets the stored notification once durable.
  void EnqueueAsync(const nlohmann::json& request, EnqueueDone done);
  /// EnqueueAsync, waiting for the outcome.
  Outcome Enqueue(const nlohmann::json& request);

  /// Registers a watcher. The manager keeps only a weak reference, so a watcher that dies without
  /// RemoveWatcher is simply skipped. Returns the seq below which the watcher gets the backlog from
  /// Backlog() rather than through Deliver(): Deliver() is called only for later notifications.
  uint64_t AddWatcher(const std::shared_ptr<NotificationWatcher>& watcher);
  /// Up to `max` pending notifications with after < seq < until, in seq order: a watcher pulls its
  /// backlog in steps as it writes, so a backlog of any size never fills its outbox.
  std::vector<std::pair<uint64_t, Notification>> Backlog(uint64_t after, uint64_t until, size_t max) const;
  void RemoveWatcher(const NotificationWatcher* watcher);
  void MarkDelivered(uint64_t seq);

  /// Stops accepting, waits until nothing is pending or the deadline (no wait without watchers), then
  /// flushes the store. Returns how many stay pending for the next start, or why something could not be
  /// kept. Idempotent: later calls return the first result.
  Result<size_t> Close(std::chrono::steady_clock::time_point deadline);

  size_t pending() const;
  size_t watchers() const;

 private:
  struct Entry {
    uint64_t seq;
    Notification notification;
  };
  Status ImportLegacy(const ConfigDir& dir, const std::string& name);
  void Accepted(uint64_t seq, Notification n, std::optional<NotificationStore::WriteError> error,
                const EnqueueDone& done);

  std::unique_ptr<NotificationStore> store_;
  const size_t capacity_;
  Logger& log_;
  mutable std::mutex mu_;
  std::condition_variable drained_;
  std::deque<Entry> pending_;  // committed, in seq order
  size_t in_flight_ = 0;       // accepted for writing, not committed yet
  std::map<const NotificationWatcher*, std::weak_ptr<NotificationWatcher>> watchers_;
  uint64_t next_seq_ = 1;
  uint64_t last_committed_seq_ = 0;
  bool closed_ = false;
  std::optional<Result<size_t>> close_result_;
};

}  // namespace coder::server
