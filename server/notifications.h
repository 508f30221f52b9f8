#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "server/log.h"

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
/// pending until at least one watcher has written it. On Close() it drains (waits, up to a deadline, for
/// watchers to take what is pending) and keeps the rest in a state file, which the next start loads, so
/// nothing accepted is lost. Delivery is at least once: clients may see an id twice across a restart.
/// Thread-safe.
class NotificationsManager {
 public:
  enum class RejectReason { kInvalid, kQueueFull, kClosed };
  struct Rejection {
    RejectReason reason;
    std::string message;
  };

  NotificationsManager(std::filesystem::path state_file, size_t capacity, Logger& log);

  /// Loads notifications a previous run could not deliver. Call before serving.
  Status LoadPending();

  /// Validates and accepts a notification request body; on success returns the stored notification.
  std::variant<Notification, Rejection> Enqueue(const nlohmann::json& request);

  /// Registers a watcher and hands it every pending notification. The manager keeps only a weak
  /// reference, so a watcher that dies without RemoveWatcher is simply skipped.
  void AddWatcher(const std::shared_ptr<NotificationWatcher>& watcher);
  void RemoveWatcher(const NotificationWatcher* watcher);
  void MarkDelivered(uint64_t seq);

  /// Stops accepting, waits until nothing is pending or the deadline (no wait without watchers), then
  /// writes what is still pending to the state file (or removes it when nothing is). Idempotent: later
  /// calls return the count kept by the first.
  Result<size_t> Close(std::chrono::steady_clock::time_point deadline);

  size_t pending() const;
  size_t watchers() const;

 private:
  struct Entry {
    uint64_t seq;
    Notification notification;
  };
  Status PersistLocked();

  const std::filesystem::path state_file_;
  const size_t capacity_;
  Logger& log_;
  mutable std::mutex mu_;
  std::condition_variable drained_;
  std::deque<Entry> pending_;
  std::map<const NotificationWatcher*, std::weak_ptr<NotificationWatcher>> watchers_;
  uint64_t next_seq_ = 1;
  bool closed_ = false;
  std::optional<Result<size_t>> close_result_;
};

}  // namespace coder::server
