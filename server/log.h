#pragma once

#include <nlohmann/json.hpp>

#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coder::server {

enum class LogFormat { kHuman, kJson };
enum class LogLevel { kDebug, kInfo, kWarn, kError };

/// One structured field of a log line. Strings print bare in human lines (quoted when they contain
/// spaces); numbers and booleans keep their JSON type in JSON lines.
struct LogField {
  std::string key;
  nlohmann::json value;
};

/// Writes one line per call to a file descriptor (stderr by default), either for humans
/// (`2026-11-24 03:50:34.123 [info] message  key=value`) or as one JSON object per line. Thread-safe:
/// each line is a single write(2) under a mutex, so lines never interleave.
class Logger {
 public:
  explicit Logger(LogFormat format = LogFormat::kHuman, int fd = 2, LogLevel min_level = LogLevel::kInfo);

  void Log(LogLevel level, std::string_view message, const std::vector<LogField>& fields = {});
  void Debug(std::string_view m, const std::vector<LogField>& f = {}) { Log(LogLevel::kDebug, m, f); }
  void Info(std::string_view m, const std::vector<LogField>& f = {}) { Log(LogLevel::kInfo, m, f); }
  void Warn(std::string_view m, const std::vector<LogField>& f = {}) { Log(LogLevel::kWarn, m, f); }
  void Error(std::string_view m, const std::vector<LogField>& f = {}) { Log(LogLevel::kError, m, f); }

  /// Writes text as is (for the SIGQUIT state dump), under the same mutex as log lines.
  void WriteRaw(std::string_view text);

  /// Renders a line without writing it; exposed for tests.
  std::string Format(LogLevel level, std::string_view message, const std::vector<LogField>& fields) const;

 private:
  LogFormat format_;
  int fd_;
  LogLevel min_level_;
  std::mutex mu_;
};

}  // namespace coder::server
