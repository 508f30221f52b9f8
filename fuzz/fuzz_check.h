#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

// Invariant checks for fuzz targets: a failed check prints what broke and aborts, which libFuzzer
// reports as a crash and saves the input as an artifact.
#define FUZZ_CHECK(cond, ...)                                                                          \
  do {                                                                                                 \
    if (!(cond)) ::coder::fuzz::Fail(__FILE__, __LINE__, #cond, ::coder::fuzz::Describe(__VA_ARGS__)); \
  } while (0)

namespace coder::fuzz {

[[noreturn]] inline void Fail(const char* file, int line, const char* cond, const std::string& detail) {
  std::fprintf(stderr, "%s:%d: invariant failed: %s\n%s\n", file, line, cond, detail.c_str());
  std::abort();
}

inline std::string Describe() { return {}; }
inline std::string Describe(std::string_view detail) { return std::string(detail); }

/// Digits after the decimal point of a formatted value such as "1.25GiB" or "3.5ms" (0 without a point).
inline int DecimalsShown(const std::string& shown) {
  const size_t dot = shown.find('.');
  int decimals = 0;
  if (dot != std::string::npos)
    while (dot + 1 + decimals < shown.size() && shown[dot + 1 + decimals] >= '0' && shown[dot + 1 + decimals] <= '9')
      ++decimals;
  return decimals;
}

/// Printable form of arbitrary bytes for failure messages: non-printables as \xNN, at most the first
/// 600 bytes (the saved input has them all).
inline std::string Escape(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  constexpr size_t kMax = 600;
  std::string out;
  for (unsigned char c : bytes.substr(0, kMax)) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (bytes.size() > kMax) out += "... (" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

}  // namespace coder::fuzz
