#include "server/log.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "common/json_dump.h"

namespace coder::server {
namespace {

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

std::string Timestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  return fmt::format("{:%Y-%m-%d %H:%M:%S}.{:03d}", fmt::gmtime(std::chrono::system_clock::to_time_t(now)), ms.count());
}

std::string HumanValue(const nlohmann::json& v) {
  // Values may quote a client's bytes: invalid UTF-8 is replaced rather than thrown.
  if (!v.is_string()) return DumpJson(v);
  const auto& s = v.get_ref<const std::string&>();
  // Bare only when unambiguous and on one line: a newline or other control byte in a peer's text
  // (a request target, an error) would otherwise split the line or forge the next one.
  const bool bare = !s.empty() && std::none_of(s.begin(), s.end(), [](unsigned char c) {
    return c <= ' ' || c == 0x7f || c == '"' || c == '=';
  });
  if (!bare) return DumpJson(nlohmann::json(s));
  return s;
}

}  // namespace

Logger::Logger(LogFormat format, int fd, LogLevel min_level) : format_(format), fd_(fd), min_level_(min_level) {}

std::string Logger::Format(LogLevel level, std::string_view message, const std::vector<LogField>& fields) const {
  if (format_ == LogFormat::kJson) {
    nlohmann::ordered_json line;
    line["ts"] = Timestamp();
    line["level"] = LevelName(level);
    line["msg"] = message;
    for (const auto& f : fields) line[f.key] = f.value;
    // A log line must never throw on a stray byte from a peer.
    return DumpJson(line) + "\n";
  }
  std::string out = fmt::format("{} [{}] {}", Timestamp(), LevelName(level), message);
  if (!fields.empty()) out += " ";
  for (const auto& f : fields) out += fmt::format(" {}={}", f.key, HumanValue(f.value));
  out += "\n";
  return out;
}

void Logger::Log(LogLevel level, std::string_view message, const std::vector<LogField>& fields) {
  if (level < min_level_) return;
  WriteRaw(Format(level, message, fields));
}

void Logger::WriteRaw(std::string_view text) {
  std::lock_guard lock(mu_);
  while (!text.empty()) {
    const ssize_t n = ::write(fd_, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a closed stderr must not take the server down
    text.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace coder::server
