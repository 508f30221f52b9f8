#include "server/notifications.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/file_util.h"
#include "common/time_format.h"
#include "server/random.h"

namespace coder::server {
namespace {

constexpr size_t kMaxTitle = 200;
constexpr size_t kMaxBody = 4096;
constexpr int kStateVersion = 1;

bool ValidSeverity(const std::string& s) { return s == "info" || s == "warning" || s == "error"; }

}  // namespace

nlohmann::json Notification::ToJson() const {
  return {{"id", id}, {"title", title}, {"body", body}, {"severity", severity}, {"created_at", created_at}};
}

Result<Notification> Notification::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Error{"the body must be a JSON object"};
  for (const auto& [key, value] : j.items()) {
    if (key != "title" && key != "body" && key != "severity" && key != "id" && key != "created_at")
      return Error{fmt::format("unknown field \"{}\" (fields: title, body, severity)", key)};
  }
  Notification n;
  auto text = [&](const char* key, std::string& out, size_t max, bool required) -> Status {
    auto it = j.find(key);
    if (it == j.end()) {
      if (required) return Error{fmt::format("\"{}\" is required", key)};
      return Ok{};
    }
    if (!it->is_string()) return Error{fmt::format("\"{}\" must be a string", key)};
    out = it->get<std::string>();
    if (required && out.empty()) return Error{fmt::format("\"{}\" must not be empty", key)};
    if (out.size() > max) return Error{fmt::format("\"{}\" is longer than {} bytes", key, max)};
    return Ok{};
  };
  for (auto status : {text("title", n.title, kMaxTitle, true), text("body", n.body, kMaxBody, false),
                      text("severity", n.severity, 16, false), text("id", n.id, 64, false),
                      text("created_at", n.created_at, 64, false)}) {
    if (!status) return status.error();
  }
  if (n.severity.empty()) n.severity = "info";
  if (!ValidSeverity(n.severity)) return Error{"\"severity\" must be info, warning or error"};
  return n;
}

NotificationsManager::NotificationsManager(std::filesystem::path state_file, size_t capacity, Logger& log)
    : state_file_(std::move(state_file)), capacity_(capacity), log_(log) {}

Status NotificationsManager::LoadPending() {
  std::error_code ec;
  if (!std::filesystem::exists(state_file_, ec)) return Ok{};
  auto text = ReadFile(state_file_);
  if (!text) return text.error();
  auto quarantine = [&](const std::string& why) -> Status {
    // Unreadable state is moved aside rather than deleted: the notifications in it may be recoverable.
    const auto aside = state_file_.string() + ".corrupt";
    std::filesystem::rename(state_file_, aside, ec);
    log_.Warn("pending notifications file is unreadable; moved aside",
              {{"path", state_file_.string()}, {"moved_to", aside}, {"error", why}});
    return Ok{};
  };
  const auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("pending") || !j["pending"].is_array())
    return quarantine("not a pending-notifications document");
  std::lock_guard lock(mu_);
  for (const auto& item : j["pending"]) {
    auto n = Notification::FromJson(item);
    if (!n) return quarantine(n.error().message);
    pending_.push_back({next_seq_++, std::move(*n)});
  }
  if (!pending_.empty())
    log_.Info("loaded undelivered notifications from the previous run",
              {{"count", pending_.size()}, {"path", state_file_.string()}});
  return Ok{};
}

std::variant<Notification, NotificationsManager::Rejection> NotificationsManager::Enqueue(
    const nlohmann::json& request) {
  if (request.is_object() && (request.contains("id") || request.contains("created_at")))
    return Rejection{RejectReason::kInvalid, "\"id\" and \"created_at\" are assigned by the server"};
  auto parsed = Notification::FromJson(request);
  if (!parsed) return Rejection{RejectReason::kInvalid, parsed.error().message};
  Notification n = std::move(*parsed);
  n.id = RandomUuid();
  n.created_at = Rfc3339Utc(std::chrono::system_clock::now(), /*millis=*/true);
  uint64_t seq = 0;
  std::vector<std::shared_ptr<NotificationWatcher>> targets;
  {
    std::lock_guard lock(mu_);
    if (closed_) return Rejection{RejectReason::kClosed, "the notifications manager is shutting down"};
    if (pending_.size() >= capacity_)
      return Rejection{RejectReason::kQueueFull,
                       fmt::format("the notification queue is full ({} undelivered)", pending_.size())};
    seq = next_seq_++;
    pending_.push_back({seq, n});
    for (const auto& [key, weak] : watchers_)
      if (auto w = weak.lock()) targets.push_back(std::move(w));
  }
  for (const auto& w : targets) w->Deliver(n, seq);
  return n;
}

void NotificationsManager::AddWatcher(const std::shared_ptr<NotificationWatcher>& watcher) {
  std::vector<Entry> backlog;
  {
    std::lock_guard lock(mu_);
    watchers_[watcher.get()] = watcher;
    backlog.assign(pending_.begin(), pending_.end());
  }
  for (const auto& e : backlog) watcher->Deliver(e.notification, e.seq);
}

void NotificationsManager::RemoveWatcher(const NotificationWatcher* watcher) {
  std::lock_guard lock(mu_);
  watchers_.erase(watcher);
  if (watchers_.empty()) drained_.notify_all();
}

void NotificationsManager::MarkDelivered(uint64_t seq) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(pending_.begin(), pending_.end(), [&](const Entry& e) { return e.seq == seq; });
  if (it == pending_.end()) return;
  pending_.erase(it);
  if (pending_.empty()) drained_.notify_all();
}

Result<size_t> NotificationsManager::Close(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  if (close_result_) return *close_result_;
  closed_ = true;
  drained_.wait_until(lock, deadline, [&] { return pending_.empty() || watchers_.empty(); });
  const size_t kept = pending_.size();
  Status persisted = PersistLocked();
  close_result_ = persisted ? Result<size_t>(kept) : Result<size_t>(persisted.error());
  return *close_result_;
}

Status NotificationsManager::PersistLocked() {
  if (pending_.empty()) {
    std::error_code ec;
    std::filesystem::remove(state_file_, ec);
    return Ok{};
  }
  nlohmann::json doc{{"version", kStateVersion}, {"pending", nlohmann::json::array()}};
  for (const auto& e : pending_) doc["pending"].push_back(e.notification.ToJson());
  return WriteFileAtomically(state_file_, doc.dump(2) + "\n", 0600);
}

size_t NotificationsManager::pending() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

size_t NotificationsManager::watchers() const {
  std::lock_guard lock(mu_);
  return watchers_.size();
}

}  // namespace coder::server
