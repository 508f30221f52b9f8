#include "common/duration.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

namespace coder {
namespace {

struct Unit {
  std::string_view suffix;
  double nanos;
};

// Longest suffixes first so "ms" is not read as "m" followed by garbage.
constexpr Unit kUnits[] = {
    {"ns", 1.0}, {"us", 1e3}, {"\xC2\xB5s", 1e3},  // µs in UTF-8
    {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9},
};

}  // namespace

Result<Duration> ParseDuration(std::string_view text) {
  const std::string original(text);
  auto bad = [&](std::string_view why) {
    return Error{fmt::format("invalid duration \"{}\": {} (examples: 10s, 250ms, 1m30s)", original, why)};
  };
  if (text.empty()) return bad("empty");
  if (text == "0") return Duration::zero();
  if (text.front() == '-') return bad("negative durations are not allowed");
  if (text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return bad("expected a number");

  double total = 0;
  while (!text.empty()) {
    size_t i = 0;
    bool digits = false, dot = false;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || (text[i] == '.' && !dot))) {
      if (text[i] == '.') dot = true;
      else digits = true;
      ++i;
    }
    if (!digits) return bad("expected a number");
    // from_chars, not stod: stod throws past DBL_MAX and reads the decimal point of the C locale.
    double number = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + i, number);
    if (ec == std::errc::result_out_of_range) {
      // Out of range one way or the other: a non-zero integer part overflowed, else it underflowed.
      const std::string_view integer = text.substr(0, std::min(i, text.find('.')));
      if (integer.find_first_not_of('0') != std::string_view::npos) return bad("too large");
      number = 0;
    } else if (ec != std::errc() || end != text.data() + i) {
      return bad("expected a number");
    }
    text.remove_prefix(i);
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (text.substr(0, u.suffix.size()) == u.suffix) {
        unit = &u;
        break;
      }
    }
    if (unit == nullptr) return bad(text.empty() ? "missing unit" : "unknown unit");
    text.remove_prefix(unit->suffix.size());
    total += number * unit->nanos;
  }
  // 2^63 itself is out of range: int64's maximum rounds up to it as a double.
  if (!std::isfinite(total) || total >= 0x1p63) return bad("too large");
  return Duration(static_cast<int64_t>(std::llround(total)));
}

std::string FormatDuration(Duration d) {
  const double ns = static_cast<double>(d.count());
  // Three significant digits in the largest unit that keeps the integer part non-zero.
  auto in = [](double v, std::string_view unit) {
    const int decimals = std::fabs(v) < 10 ? 2 : std::fabs(v) < 100 ? 1 : 0;
    return fmt::format("{:.{}f}{}", v, decimals, unit);
  };
  const double abs = std::fabs(ns);
  if (abs < 1e3) return fmt::format("{}ns", d.count());
  if (abs < 1e6) return in(ns / 1e3, "\xC2\xB5s");
  if (abs < 1e9) return in(ns / 1e6, "ms");
  return fmt::format("{:.3f}s", ns / 1e9);
}

}  // namespace coder
