#pragma once

// Header-only: its users (server/, harness/) link nlohmann_json themselves.
#include <nlohmann/json.hpp>

#include <string>

namespace coder {

/// nlohmann's dump that never throws on invalid UTF-8: a peer's or a target's bytes can be anything, and
/// such bytes become U+FFFD. `indent` < 0 is the compact one-line form. For json and ordered_json.
template <class Json>
std::string DumpJson(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

}  // namespace coder
