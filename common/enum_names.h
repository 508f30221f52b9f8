#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>

namespace coder {

/// An enum's names as one table of {value, name} pairs, read both ways. Pure; thread-safe.
template <class E, size_t N>
constexpr std::string_view NameIn(const std::pair<E, std::string_view> (&names)[N], E value,
                                  std::string_view unknown = "unknown") {
  for (const auto& [v, name] : names)
    if (v == value) return name;
  return unknown;
}

template <class E, size_t N>
constexpr std::optional<E> ValueNamed(const std::pair<E, std::string_view> (&names)[N], std::string_view text) {
  for (const auto& [v, name] : names)
    if (name == text) return v;
  return std::nullopt;
}

}  // namespace coder
