#include "server/notifications.h"

#include <fmt/format.h>

#include <algorithm>
#include <future>

#include "common/time_format.h"
#include "server/random.h"

namespace coder::server {
namespace {

constexpr size_t kMaxTitle = 200;
constexpr size_t kMaxBody = 4096;
// The old JSON state file is read once, to import it: bounded, so /dev/zero or a huge file cannot
// exhaust memory (1024 notifications of the largest size are about 4.5 MiB).
constexpr size_t kMaxLegacyStateBytes = 64u << 20;

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

NotificationsManager::NotificationsManager(std::unique_ptr<NotificationStore> store, size_t capacity, Logger& log)
    : store_(std::move(store)), capacity_(capacity), log_(log) {}

NotificationsManager::~NotificationsManager() { store_.reset(); }

Status NotificationsManager::ImportLegacy(const ConfigDir& dir, const std::string& name) {
  auto quarantine = [&](const std::string& why) -> Status {
    // Unreadable state is moved aside rather than deleted: the notifications in it may be recoverable.
    // A unique name each time, so a second quarantine never overwrites the first.
    auto aside = dir.Quarantine(name);
    if (!aside) return aside.error();
    log_.Warn("pending notifications file is unreadable; moved aside",
              {{"path", dir.PathOf(name).string()}, {"moved_to", dir.PathOf(*aside).string()}, {"error", why}});
    return Ok{};
  };
  auto text = dir.ReadRegular(name, kMaxLegacyStateBytes);
  if (!text) return quarantine(text.error().message);
  if (!*text) return Ok{};
  const auto j = nlohmann::json::parse(**text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("pending") || !j["pending"].is_array())
    return quarantine("not a pending-notifications document");
  std::vector<std::string> good;
  size_t bad = 0;
  std::string first_error;
  for (const auto& item : j["pending"]) {
    auto n = Notification::FromJson(item);
    if (!n) {
      if (bad++ == 0) first_error = n.error().message;
      continue;  // one bad entry costs only itself
    }
    good.push_back(n->ToJson().dump());
  }
  if (store_) {
    if (auto imported = store_->InsertNow(good); !imported) return imported.error();
  } else {
    std::lock_guard lock(mu_);
    for (const auto& g : good) pending_.push_back({next_seq_++, *Notification::FromJson(nlohmann::json::parse(g))});
  }
  if (!good.empty())
    log_.Info("imported the old pending-notifications file into the database",
              {{"count", good.size()}, {"path", dir.PathOf(name).string()}});
  if (bad > 0) return quarantine(fmt::format("{} bad entries, the first: {}", bad, first_error));
  dir.Remove(name);
  return Ok{};
}

Status NotificationsManager::LoadPending(const ConfigDir* dir, const std::string& legacy_state_file) {
  if (dir && !legacy_state_file.empty()) {
    if (auto imported = ImportLegacy(*dir, legacy_state_file); !imported) return imported.error();
  }
  if (!store_) return Ok{};
  size_t corrupt = 0;
  auto rows = store_->LoadAll(&corrupt);
  if (!rows) return rows.error();
  if (corrupt > 0)
    log_.Warn("unreadable rows in the notifications database; moved to its corrupt table", {{"count", corrupt}});
  std::lock_guard lock(mu_);
  for (auto& row : *rows) {
    auto n = Notification::FromJson(nlohmann::json::parse(row.notification));
    if (!n) {
      log_.Warn("skipping an invalid stored notification", {{"seq", row.seq}, {"error", n.error().message}});
      continue;
    }
    pending_.push_back({row.seq, std::move(*n)});
    next_seq_ = std::max(next_seq_, row.seq + 1);
  }
  if (!pending_.empty()) {
    last_committed_seq_ = pending_.back().seq;
    log_.Info("loaded undelivered notifications from the previous run", {{"count", pending_.size()}});
  }
  return Ok{};
}

void NotificationsManager::EnqueueAsync(const nlohmann::json& request, EnqueueDone done) {
  if (request.is_object() && (request.contains("id") || request.contains("created_at")))
    return done(Rejection{RejectReason::kInvalid, "\"id\" and \"created_at\" are assigned by the server"});
  auto parsed = Notification::FromJson(request);
  if (!parsed) return done(Rejection{RejectReason::kInvalid, parsed.error().message});
  Notification n = std::move(*parsed);
  n.id = RandomUuid();
  n.created_at = Rfc3339Utc(std::chrono::system_clock::now(), /*millis=*/true);
  uint64_t seq = 0;
  {
    std::lock_guard lock(mu_);
    if (closed_) return done(Rejection{RejectReason::kClosed, "the notifications manager is shutting down"});
    if (const size_t held = pending_.size() + in_flight_; held >= capacity_)
      return done(
          Rejection{RejectReason::kQueueFull, fmt::format("the notification queue is full ({} undelivered)", held)});
    seq = next_seq_++;
    ++in_flight_;
  }
  if (!store_) return Accepted(seq, std::move(n), std::nullopt, done);
  std::string json = n.ToJson().dump();
  store_->Insert(seq, std::move(json),
                 [this, seq, n = std::move(n),
                  done = std::move(done)](std::optional<NotificationStore::WriteError> error) mutable {
                   Accepted(seq, std::move(n), std::move(error), done);
                 });
}

void NotificationsManager::Accepted(uint64_t seq, Notification n, std::optional<NotificationStore::WriteError> error,
                                    const EnqueueDone& done) {
  std::vector<std::shared_ptr<NotificationWatcher>> targets;
  {
    std::lock_guard lock(mu_);
    --in_flight_;
    if (!error) {
      pending_.push_back({seq, n});
      last_committed_seq_ = seq;
      for (const auto& [key, weak] : watchers_)
        if (auto w = weak.lock()) targets.push_back(std::move(w));
    }
  }
  drained_.notify_all();
  if (error) {
    log_.Error("a notification could not be stored; refused", {{"error", error->message}});
    const bool full = error->failure == NotificationStore::Failure::kNoSpace;
    return done(Rejection{full ? RejectReason::kNoSpace : RejectReason::kStorageFailed,
                          fmt::format("the notification could not be stored: {}", error->message)});
  }
  for (const auto& w : targets) w->Deliver(n, seq);
  done(std::move(n));
}

NotificationsManager::Outcome NotificationsManager::Enqueue(const nlohmann::json& request) {
  std::promise<Outcome> outcome;
  auto result = outcome.get_future();
  EnqueueAsync(request, [&outcome](Outcome o) { outcome.set_value(std::move(o)); });
  return result.get();
}

uint64_t NotificationsManager::AddWatcher(const std::shared_ptr<NotificationWatcher>& watcher) {
  std::lock_guard lock(mu_);
  watchers_[watcher.get()] = watcher;
  return last_committed_seq_ + 1;
}

std::vector<std::pair<uint64_t, Notification>> NotificationsManager::Backlog(uint64_t after, uint64_t until,
                                                                             size_t max) const {
  std::vector<std::pair<uint64_t, Notification>> out;
  std::lock_guard lock(mu_);
  auto it = std::upper_bound(pending_.begin(), pending_.end(), after,
                             [](uint64_t seq, const Entry& e) { return seq < e.seq; });
  for (; it != pending_.end() && it->seq < until && out.size() < max; ++it) out.emplace_back(it->seq, it->notification);
  return out;
}

void NotificationsManager::RemoveWatcher(const NotificationWatcher* watcher) {
  std::lock_guard lock(mu_);
  watchers_.erase(watcher);
  if (watchers_.empty()) drained_.notify_all();
}

void NotificationsManager::MarkDelivered(uint64_t seq) {
  {
    std::lock_guard lock(mu_);
    auto it =
        std::lower_bound(pending_.begin(), pending_.end(), seq, [](const Entry& e, uint64_t s) { return e.seq < s; });
    if (it == pending_.end() || it->seq != seq) return;
    pending_.erase(it);
    if (pending_.empty()) drained_.notify_all();
  }
  if (store_) store_->Delete(seq);
}

Result<size_t> NotificationsManager::Close(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  if (close_result_) return *close_result_;
  closed_ = true;
  // What is being written is waited for too: its requests get their answer from the commit.
  drained_.wait_until(lock, deadline, [&] { return in_flight_ == 0 && (pending_.empty() || watchers_.empty()); });
  lock.unlock();
  Status flushed = store_ ? store_->Flush() : Status(Ok{});
  lock.lock();
  const size_t kept = pending_.size() + in_flight_;
  close_result_ = flushed ? Result<size_t>(kept) : Result<size_t>(flushed.error());
  return *close_result_;
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
