// ParseDuration over arbitrary text (every duration flag), checked against a reference evaluation of
// the documented grammar, and FormatDuration's output (log lines, reports) parsed back.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "common/duration.h"
#include "fuzz/fuzz_check.h"

namespace {

using coder::fuzz::Escape;

constexpr long double kMaxNs = 0x1p63L;  // nanoseconds held by an int64 are below this

// The grammar ParseDuration documents: "0", or an optional '+' and one or more NUMBER UNIT pairs, where
// NUMBER is digits with at most one '.' (at least one digit) and UNIT is ns, us, µs, ms, s, m or h.
// Returns the value in nanoseconds as a long double, or a negative number outside the grammar.
long double Reference(std::string_view text) {
  if (text == "0") return 0;
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return -1;
  struct U {
    std::string_view name;
    long double ns;
  };
  static constexpr U kUnits[] = {{"ns", 1},   {"us", 1e3L}, {"\xC2\xB5s", 1e3L}, {"ms", 1e6L},
                                 {"s", 1e9L}, {"m", 60e9L}, {"h", 3600e9L}};
  long double total = 0;
  while (!text.empty()) {
    long double number = 0, scale = 1;
    bool digits = false, dot = false;
    size_t i = 0;
    for (; i < text.size(); ++i) {
      const char c = text[i];
      if (c >= '0' && c <= '9') {
        digits = true;
        if (dot) number += (scale /= 10) * (c - '0');
        else number = number * 10 + (c - '0');
      } else if (c == '.' && !dot) {
        dot = true;
      } else {
        break;
      }
    }
    if (!digits) return -1;
    text.remove_prefix(i);
    const U* unit = nullptr;
    for (const U& u : kUnits)
      if (text.starts_with(u.name) && (unit == nullptr || u.name.size() > unit->name.size())) unit = &u;
    if (unit == nullptr) return -1;
    text.remove_prefix(unit->name.size());
    total += number * unit->ns;
  }
  return total;
}

// Half of the last digit FormatDuration printed, in nanoseconds, plus one for the final rounding.
long double FormatTolerance(const std::string& shown) {
  const int decimals = coder::fuzz::DecimalsShown(shown);
  long double unit = 1;
  if (shown.ends_with("\xC2\xB5s")) unit = 1e3L;
  else if (shown.ends_with("ms")) unit = 1e6L;
  else if (shown.ends_with("ns")) unit = 1;
  else if (shown.ends_with("s")) unit = 1e9L;
  return unit * 0.5L * std::pow(10.0L, -decimals) + 1;
}

// FormatDuration divides in double: its value carries a relative error of a few units in 2^-53.
long double DoubleSlack(int64_t ns) { return static_cast<long double>(ns) * 0x1p-50L; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = coder::ParseDuration(text);  // must not throw, whatever the text
  const long double expected = Reference(text);
  if (parsed.ok()) {
    const auto ns = parsed->count();
    FUZZ_CHECK(ns >= 0, Escape(text) + " parsed as a negative duration " + std::to_string(ns));
    FUZZ_CHECK(expected >= 0, "accepted outside the grammar: " + Escape(text));
    // Summed in double: allow its precision over the summands (a term per 2 bytes at most).
    const long double slack = 1 + expected * 1e-15L * static_cast<long double>(size);
    FUZZ_CHECK(std::fabs(static_cast<long double>(ns) - expected) <= slack,
               Escape(text) + " parsed as " + std::to_string(ns) + "ns, reference " + std::to_string(expected));
  } else {
    const std::string& message = parsed.error().message;
    FUZZ_CHECK(message.starts_with("invalid duration \"") && message.find("examples:") != std::string::npos, message);
    FUZZ_CHECK(expected < 0 || expected >= kMaxNs * (1 - 1e-15L),
               "rejected " + Escape(text) + " (" + message + "), reference " + std::to_string(expected));
  }

  // A duration the server logs (or a report prints) reads back as itself, within the printed digits.
  if (size >= 8) {
    int64_t raw = 0;
    std::memcpy(&raw, data, sizeof raw);
    const coder::Duration d(static_cast<int64_t>(static_cast<uint64_t>(raw) >> 1 >> (data[0] % 63)));
    const std::string shown = coder::FormatDuration(d);
    const auto back = coder::ParseDuration(shown);
    const long double tolerance = FormatTolerance(shown) + DoubleSlack(d.count());
    if (back.ok()) {
      FUZZ_CHECK(
          std::fabs(static_cast<long double>(back->count()) - static_cast<long double>(d.count())) <= tolerance,
          std::to_string(d.count()) + "ns shown as " + shown + " parsed back as " + std::to_string(back->count()));
    } else {
      // Only a duration that rounds past what int64 nanoseconds hold may be refused, as too large.
      FUZZ_CHECK(static_cast<long double>(d.count()) + tolerance >= kMaxNs &&
                     back.error().message.find("too large") != std::string::npos,
                 std::to_string(d.count()) + "ns shown as " + shown + ": " + back.error().message);
    }
  }
  return 0;
}
