#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/result.h"

namespace coder {

using Duration = std::chrono::nanoseconds;

/// Parses a Go-style duration: a sequence of decimal numbers, each with a unit, such as "10s", "250ms",
/// "1m30s", "1.5s", "100us" or "2h". Units: ns, us (or µs), ms, s, m, h. "0" alone is zero. Negative
/// durations and overflow are errors. Pure function; thread-safe.
Result<Duration> ParseDuration(std::string_view text);

/// Formats a duration for humans with the unit that keeps 1-3 integer digits: "850µs", "12.3ms",
/// "10.004s". Pure function; thread-safe.
std::string FormatDuration(Duration d);

/// Seconds as a double, for JSON and arithmetic on measurements.
inline double ToSeconds(Duration d) { return std::chrono::duration<double>(d).count(); }

/// Milliseconds from `from` to `to` as a double (negative when `to` is earlier): what the reports hold.
inline double MsBetween(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace coder
