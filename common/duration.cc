#include "common/duration.h"

#include <fmt/format.h>

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
    {"ns", 1.0},           {"us", 1e3},  {"\xC2\xB5s", 1e3},  // µs in UTF-8
    {"ms", 1e6},           {"s", 1e9},   {"m", 60e9},
    {"h", 3600e9},
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

  double total = 0;
  while (!text.empty()) {
    size_t i = 0;
    bool digits = false, dot = false;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || (text[i] == '.' && !dot))) {
      if (text[i] == '.') dot = true; else digits = true;
      ++i;
    }
    if (!digits) return bad("expected a number");
    double number = std::stod(std::string(text.substr(0, i)));
    text.remove_prefix(i);
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (text.substr(0, u.suffix.size()) == u.suffix) { unit = &u; break; }
    }
    if (unit == nullptr) return bad(text.empty() ? "missing unit" : "unknown unit");
    text.remove_prefix(unit->suffix.size());
    total += number * unit->nanos;
  }
  if (!std::isfinite(total) || total > static_cast<double>(std::numeric_limits<int64_t>::max()))
    return bad("too large");
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
