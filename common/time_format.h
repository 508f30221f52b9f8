#pragma once

#include <chrono>
#include <string>

namespace coder {

/// RFC 3339 in UTC: "2026-11-24T04:19:37Z", or "2026-11-24T04:19:37.265Z" with milliseconds.
/// Thread-safe.
std::string Rfc3339Utc(std::chrono::system_clock::time_point t, bool millis = false);

}  // namespace coder
