#include "common/size.h"

#include <fmt/format.h>

#include <limits>
#include <string>

namespace coder {
namespace {

struct Unit {
  std::string_view suffix;
  uint64_t bytes;
};

constexpr uint64_t kKi = 1024;
constexpr Unit kUnits[] = {
    {"B", 1},
    {"kB", 1'000},
    {"KB", 1'000},
    {"MB", 1'000'000},
    {"GB", 1'000'000'000},
    {"TB", 1'000'000'000'000},
    {"PB", 1'000'000'000'000'000},
    {"KiB", kKi},
    {"MiB", kKi* kKi},
    {"GiB", kKi* kKi* kKi},
    {"TiB", kKi* kKi* kKi* kKi},
    {"PiB", kKi* kKi* kKi* kKi* kKi},
};

// Fraction digits past this many are dropped: 10^-18 of a PiB is far below one byte, and the product
// below then fits in 128 bits (10^18 × 2^50 < 2^128).
constexpr size_t kMaxFractionDigits = 18;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Result<uint64_t> ParseSize(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Error{fmt::format("invalid size \"{}\": {} (examples: 17GiB, 7.6GiB, 512MiB, 1.5GB, 123)", text, why)};
  };
  if (text.empty()) return bad("empty");
  if (text.front() == '-') return bad("negative sizes are not allowed");

  // Integer part, exactly, with overflow detection.
  size_t i = 0;
  uint64_t whole = 0;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (; i < text.size() && IsDigit(text[i]); ++i) {
    const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (whole > (kMax - digit) / 10) return bad("too large");
    whole = whole * 10 + digit;
  }
  if (i == 0) return bad("expected a number");

  // Fraction as an integer numerator over 10^digits, so 7.6GiB is computed exactly, not through a double.
  uint64_t fraction = 0, denominator = 1;
  bool nonzero_fraction = false;  // also counts digits past kMaxFractionDigits: 1.0000000000000000001 is not whole
  if (i < text.size() && text[i] == '.') {
    ++i;
    const size_t start = i;
    for (; i < text.size() && IsDigit(text[i]); ++i) {
      nonzero_fraction |= text[i] != '0';
      if (i - start >= kMaxFractionDigits) continue;
      fraction = fraction * 10 + static_cast<uint64_t>(text[i] - '0');
      denominator *= 10;
    }
    if (i == start) return bad("expected digits after '.'");
  }

  const std::string_view suffix = text.substr(i);
  uint64_t unit = 1;
  if (!suffix.empty()) {
    const Unit* found = nullptr;
    for (const Unit& u : kUnits)
      if (u.suffix == suffix) found = &u;
    if (found == nullptr)
      return bad(fmt::format("unknown unit \"{}\" (want B, kB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB)", suffix));
    unit = found->bytes;
  }
  if (nonzero_fraction && unit == 1) return bad("a number of bytes must be whole");

  if (unit != 0 && whole > kMax / unit) return bad("too large");
  uint64_t bytes = whole * unit;
  const unsigned __int128 scaled = static_cast<unsigned __int128>(fraction) * unit;
  const uint64_t part = static_cast<uint64_t>((scaled + denominator / 2) / denominator);  // round half up
  if (bytes > kMax - part) return bad("too large");
  return bytes + part;
}

}  // namespace coder
