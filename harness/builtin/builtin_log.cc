#include "harness/builtin/builtin_log.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "common/duration.h"

namespace coder::harness::builtin {
namespace {

// JSON lines are recognised by their first byte; a human line never starts with '{'.
std::optional<nlohmann::json> AsJson(std::string_view line) {
  if (line.empty() || line.front() != '{') return std::nullopt;
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

// The value of ` key=value` in a human line: a JSON-quoted string or a run of non-spaces.
std::optional<std::string> HumanField(std::string_view line, std::string_view key) {
  const std::string needle = " " + std::string(key) + "=";
  const size_t at = line.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(at + needle.size());
  if (!rest.empty() && rest.front() == '"') {
    // Logged with JSON escaping; find the closing quote that is not escaped.
    size_t end = 1;
    while (end < rest.size() && rest[end] != '"') end += rest[end] == '\\' ? 2 : 1;
    auto parsed = nlohmann::json::parse(rest.substr(0, std::min(end + 1, rest.size())), nullptr, false);
    if (parsed.is_string()) return parsed.get<std::string>();
    return std::nullopt;
  }
  return std::string(rest.substr(0, rest.find_first_of(" \t")));
}

}  // namespace

std::optional<StepTiming> ParseStepLine(std::string_view line) {
  if (line.find("shutdown step done") == std::string_view::npos) return std::nullopt;
  if (auto j = AsJson(line)) {
    if (!(*j)["step"].is_string() || !(*j)["took_ms"].is_number()) return std::nullopt;
    return StepTiming{(*j)["step"].get<std::string>(), (*j)["took_ms"].get<double>()};
  }
  auto name = HumanField(line, "step");
  auto took = HumanField(line, "took");
  if (!name || !took) return std::nullopt;
  auto duration = ParseDuration(*took);
  if (!duration) return std::nullopt;
  return StepTiming{*name, ToSeconds(*duration) * 1e3};
}

std::vector<std::string> ParseHeldSlots(std::string_view line) {
  std::optional<std::string> held;
  if (auto j = AsJson(line)) {
    if ((*j)["held"].is_string()) held = (*j)["held"].get<std::string>();
  } else {
    held = HumanField(line, "held");
  }
  std::vector<std::string> slots;
  if (!held) return slots;
  std::string_view rest = *held;
  while (!rest.empty()) {
    const size_t comma = rest.find(", ");
    slots.emplace_back(rest.substr(0, comma));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 2);
  }
  return slots;
}

}  // namespace coder::harness::builtin
