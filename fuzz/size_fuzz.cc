// ParseSize over arbitrary text (the --memory-budget and --assume-rss flags), checked against a
// reference evaluation in long double, and the sizes reports print (FormatBytes) parsed back.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "common/size.h"
#include "fuzz/fuzz_check.h"
#include "harness/report/report.h"

namespace {

using coder::fuzz::Escape;

constexpr long double kMax = static_cast<long double>(std::numeric_limits<uint64_t>::max());

// The grammar ParseSize documents, evaluated independently: digits, optionally '.' and digits, an
// optional unit. Returns the exact value as a long double, or a negative number when `text` is not in
// the grammar (unknown unit, sign, spaces, a fraction of plain bytes).
long double Reference(std::string_view text) {
  size_t i = 0;
  long double whole = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') whole = whole * 10 + (text[i++] - '0');
  if (i == 0) return -1;
  long double fraction = 0, scale = 1;
  bool nonzero_fraction = false;
  if (i < text.size() && text[i] == '.') {
    const size_t start = ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      scale /= 10;
      fraction += scale * (text[i] - '0');
      nonzero_fraction |= text[i] != '0';
      ++i;
    }
    if (i == start) return -1;
  }
  const std::string_view unit = text.substr(i);
  struct U {
    std::string_view name;
    long double bytes;
  };
  static constexpr U kUnits[] = {{"", 1},          {"B", 1},         {"kB", 1e3L},     {"KB", 1e3L},
                                 {"MB", 1e6L},     {"GB", 1e9L},     {"TB", 1e12L},    {"PB", 1e15L},
                                 {"KiB", 0x1p10L}, {"MiB", 0x1p20L}, {"GiB", 0x1p30L}, {"TiB", 0x1p40L},
                                 {"PiB", 0x1p50L}};
  for (const U& u : kUnits) {
    if (u.name != unit) continue;
    if (u.bytes == 1 && nonzero_fraction) return -1;
    return whole * u.bytes + fraction * u.bytes;
  }
  return -1;
}

// How far the value a FormatBytes text stands for can be from the bytes it was made from: half of its
// last printed digit, in its unit.
long double FormatTolerance(const std::string& shown) {
  const int decimals = coder::fuzz::DecimalsShown(shown);
  long double unit = 1;
  if (shown.ends_with("KiB")) unit = 0x1p10L;
  if (shown.ends_with("MiB")) unit = 0x1p20L;
  if (shown.ends_with("GiB")) unit = 0x1p30L;
  if (shown.ends_with("TiB")) unit = 0x1p40L;
  if (shown.ends_with("PiB")) unit = 0x1p50L;
  return unit * 0.5L * std::pow(10.0L, -decimals) + 1;
}

// FormatBytes divides in double: its value carries a relative error of a few units in 2^-53.
long double DoubleSlack(uint64_t bytes) { return static_cast<long double>(bytes) * 0x1p-50L; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = coder::ParseSize(text);
  const long double expected = Reference(text);
  if (parsed.ok()) {
    FUZZ_CHECK(expected >= 0, "accepted outside the grammar: " + Escape(text));
    // Rounded to the nearest byte; long double carries 64 bits, so allow one byte plus its precision.
    const long double error = std::fabs(static_cast<long double>(*parsed) - expected);
    FUZZ_CHECK(error <= 1 + expected * 0x1p-62L,
               Escape(text) + " parsed as " + std::to_string(*parsed) + ", reference " + std::to_string(expected));
    // The byte count it stands for, written plainly, is the same size.
    const std::string plain = std::to_string(*parsed);
    FUZZ_CHECK(coder::ParseSize(plain).ok() && *coder::ParseSize(plain) == *parsed, plain);
    FUZZ_CHECK(coder::ParseSize(plain + "B").ok() && *coder::ParseSize(plain + "B") == *parsed, plain);
  } else {
    const std::string& message = parsed.error().message;
    FUZZ_CHECK(message.starts_with("invalid size \"") && message.find("examples:") != std::string::npos, message);
    // Rejected text is outside the grammar or too large for 64 bits (within rounding of the limit).
    FUZZ_CHECK(expected < 0 || expected > kMax - 1 - kMax * 0x1p-62L,
               "rejected " + Escape(text) + " (" + message + "), reference " + std::to_string(expected));
  }

  // Whatever size a report prints, the flags accept back, within the printed precision.
  if (size >= 8) {
    uint64_t bytes = 0;
    std::memcpy(&bytes, data, sizeof bytes);
    bytes >>= (data[0] % 64);  // small sizes as often as large ones
    const std::string shown = coder::harness::FormatBytes(bytes);
    const auto back = coder::ParseSize(shown);
    const long double tolerance = FormatTolerance(shown) + DoubleSlack(bytes);
    if (back.ok()) {
      FUZZ_CHECK(std::fabs(static_cast<long double>(*back) - static_cast<long double>(bytes)) <= tolerance,
                 std::to_string(bytes) + " shown as " + shown + " parsed back as " + std::to_string(*back));
    } else {
      // Only a size that rounds past 2^64 - 1 may be refused, as too large.
      FUZZ_CHECK(static_cast<long double>(bytes) + tolerance > kMax &&
                     back.error().message.find("too large") != std::string::npos,
                 std::to_string(bytes) + " shown as " + shown + ": " + back.error().message);
    }
  }
  return 0;
}
