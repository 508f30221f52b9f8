// POST /api/v2/notifications bodies, validated as the server does (HttpApi::PostNotification: parse,
// then NotificationsManager::Enqueue). Accepted ones meet every documented limit, carry server-assigned
// id and time, and reach the reply and the state file unchanged.
#include <fcntl.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_check.h"
#include "server/log.h"
#include "server/notifications.h"

namespace {

using coder::server::Notification;
using coder::server::NotificationsManager;

coder::server::Logger& QuietLog() {
  static coder::server::Logger log(coder::server::LogFormat::kHuman, ::open("/dev/null", O_WRONLY | O_CLOEXEC));
  return log;
}

bool IsUuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (s[i] == '-')) return false;
    if (!dash && std::string_view("0123456789abcdef").find(s[i]) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto request = nlohmann::json::parse(std::string_view(reinterpret_cast<const char*>(data), size), nullptr,
                                             /*allow_exceptions=*/false);
  if (request.is_discarded()) return 0;  // answered 400 "not valid JSON" before validation

  // Memory only: nothing is stored.
  NotificationsManager manager(nullptr, 2, QuietLog());
  auto result = manager.Enqueue(request);
  if (auto* rejection = std::get_if<NotificationsManager::Rejection>(&result)) {
    FUZZ_CHECK(rejection->reason == NotificationsManager::RejectReason::kInvalid, rejection->message);
    FUZZ_CHECK(!rejection->message.empty(), request.dump());
    FUZZ_CHECK(manager.pending() == 0, "a rejected notification is pending");
    return 0;
  }
  const Notification& n = std::get<Notification>(result);
  FUZZ_CHECK(manager.pending() == 1, "an accepted notification is not pending");
  FUZZ_CHECK(request.is_object(), request.dump());
  for (const auto& [key, value] : request.items())
    FUZZ_CHECK(key == "title" || key == "body" || key == "severity", "accepted field " + key);
  FUZZ_CHECK(!n.title.empty() && n.title.size() <= 200 && n.title == request["title"].get<std::string>(), n.title);
  FUZZ_CHECK(n.body.size() <= 4096, std::to_string(n.body.size()));
  FUZZ_CHECK(n.severity == "info" || n.severity == "warning" || n.severity == "error", n.severity);
  FUZZ_CHECK(IsUuid(n.id), n.id);
  FUZZ_CHECK(n.created_at.size() == 24 && n.created_at.back() == 'Z', n.created_at);

  // The 202 reply and the state file hold n.ToJson() as text; read back, it is the same notification.
  const std::string text = n.ToJson().dump();
  const auto back = Notification::FromJson(nlohmann::json::parse(text));
  FUZZ_CHECK(back.ok(), back.ok() ? "" : back.error().message);
  FUZZ_CHECK(back->id == n.id && back->title == n.title && back->body == n.body && back->severity == n.severity &&
                 back->created_at == n.created_at,
             text);
  return 0;
}
