#pragma once

#include <unistd.h>

#include <cstdio>
#include <string>

#include "server/log.h"
#include "server/shutdown_plan.h"

namespace coder::server::testing {

/// A Logger writing to an anonymous temporary file whose text a test can read back.
class LogCapture {
 public:
  explicit LogCapture(LogFormat format = LogFormat::kHuman)
      : file_(std::tmpfile()), logger_(format, fileno(file_), LogLevel::kDebug) {}
  ~LogCapture() { std::fclose(file_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  Logger& logger() { return logger_; }
  std::string Text() const {
    std::string out;
    char buf[4096];
    ssize_t n;
    off_t offset = 0;
    while ((n = ::pread(fileno(file_), buf, sizeof buf, offset)) > 0) {
      out.append(buf, static_cast<size_t>(n));
      offset += n;
    }
    return out;
  }

 private:
  FILE* file_;
  Logger logger_;
};

/// A clock that moves only when told to. Thread-safe enough for the single-threaded plan loop.
class FakeClock final : public Clock {
 public:
  TimePoint Now() const override { return now_; }
  void Advance(std::chrono::nanoseconds d) { now_ += d; }

 private:
  TimePoint now_{std::chrono::hours(1)};
};

}  // namespace coder::server::testing
