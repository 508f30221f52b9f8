#include "harness/fingerprint.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "common/duration.h"

namespace coder::harness {
namespace {

constexpr const char* kWebsocketTimeoutPattern = R"(websocket shutdown timed out after ([0-9]+(?:\.[0-9]+)?) seconds)";

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

Result<std::shared_ptr<const FingerprintSet>> FingerprintSet::Create(const std::vector<std::string>& user_specs) {
  auto set = std::make_shared<FingerprintSet>();
  RE2::Options options;
  options.set_log_errors(false);
  set->websocket_timeout_ = std::make_unique<RE2>(kWebsocketTimeoutPattern, options);
  set->patterns_.push_back({kFpWebsocketTimeout, std::make_unique<RE2>(kWebsocketTimeoutPattern, options)});
  for (const auto& spec : user_specs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0)
      return Error{fmt::format("invalid --fingerprint \"{}\": want NAME=REGEX", spec)};
    auto regex = std::make_unique<RE2>(spec.substr(eq + 1), options);
    if (!regex->ok())
      return Error{fmt::format("invalid --fingerprint \"{}\": {}", spec, regex->error())};
    set->patterns_.push_back({spec.substr(0, eq), std::move(regex)});
  }
  return std::shared_ptr<const FingerprintSet>(std::move(set));
}

void FingerprintSet::Scan(std::string_view line, std::set<std::string>& matched) const {
  const re2::StringPiece piece(line.data(), line.size());
  for (const auto& p : patterns_)
    if (RE2::PartialMatch(piece, *p.regex)) matched.insert(p.name);
}

bool FingerprintSet::IsTimeoutFingerprint(std::string_view name) {
  return name == kFpWebsocketTimeout || name == kFpLatencyAtTimeout;
}

std::optional<double> FingerprintSet::TimeoutSeconds(std::string_view line) const {
  double seconds = 0;
  if (RE2::PartialMatch(re2::StringPiece(line.data(), line.size()), *websocket_timeout_, &seconds)) return seconds;
  return std::nullopt;
}

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

bool LatencyAtKnownTimeout(double latency_ms, const std::vector<double>& timeouts_ms) {
  return std::any_of(timeouts_ms.begin(), timeouts_ms.end(), [&](double t) {
    return t > 0 && latency_ms >= t * 0.99 && latency_ms <= t + std::max(250.0, t * 0.05);
  });
}

}  // namespace coder::harness
