#include "harness/report/report.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "common/duration.h"

namespace coder::harness {

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{}B", bytes);
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  // 1023.5 and up would print as "1024": that is the next unit's "1.0".
  while (v >= 1023.5 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  // Thresholds sit at the rounding points, so 99.96 prints "100", never "100.0".
  int decimals = 0;
  if (unit <= 1) {
    decimals = v < 99.95 ? 1 : 0;
  } else {
    // At GiB scale a tenth is ~100 MiB, too coarse for comparing peaks: one more digit below 10.
    decimals = v < 9.995 ? 2 : v < 99.95 ? 1 : 0;
  }
  return fmt::format("{:.{}f}{}", v, decimals, kUnits[unit]);
}

std::string FormatMs(double ms) { return FormatDuration(std::chrono::nanoseconds(std::llround(ms * 1e6))); }

size_t DisplayWidth(std::string_view utf8) {
  size_t width = 0;
  for (unsigned char c : utf8)
    if ((c & 0xC0) != 0x80) ++width;  // continuation bytes belong to the previous code point
  return width;
}

}  // namespace coder::harness
