#include "harness/measure/measurements.h"

#include <utility>

#include "common/enum_names.h"

namespace coder::harness {
namespace {

constexpr std::pair<LogClock, std::string_view> kLogClockNames[] = {{LogClock::kSignal, "signal"},
                                                                    {LogClock::kLaunch, "launch"}};

}  // namespace

std::string_view ToString(LogClock clock) { return NameIn(kLogClockNames, clock); }

std::optional<LogClock> LogClockFromString(std::string_view text) { return ValueNamed(kLogClockNames, text); }

}  // namespace coder::harness
