#include "harness/measure/measurements.h"

#include <utility>

namespace coder::harness {
namespace {

constexpr std::pair<LogClock, std::string_view> kLogClockNames[] = {{LogClock::kSignal, "signal"},
                                                                    {LogClock::kLaunch, "launch"}};

}  // namespace

std::string_view ToString(LogClock clock) {
  for (const auto& [c, name] : kLogClockNames)
    if (c == clock) return name;
  return "unknown";
}

std::optional<LogClock> LogClockFromString(std::string_view text) {
  for (const auto& [c, name] : kLogClockNames)
    if (name == text) return c;
  return std::nullopt;
}

}  // namespace coder::harness
