#include "harness/analysis/fingerprint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace coder::harness {
namespace {

constexpr const char* kWebsocketTimeoutPattern = R"(websocket shutdown timed out after ([0-9]+(?:\.[0-9]+)?) seconds)";

}  // namespace

const std::vector<GenericTimeoutLine>& GenericTimeoutLines() {
  static const std::vector<GenericTimeoutLine> kLines = {
      {"timed-out", R"(\btimed[ _-]?out\b)", nullptr, "shutdown: timed out waiting for 3 connections to close"},
      {"deadline-exceeded", R"(\bdeadline[ _-]?exceeded\b)", nullptr,
       "server shutdown failed: context deadline exceeded"},
      {"took-longer-than", R"(\btook longer than\b)", nullptr, "graceful shutdown took longer than 5s, forcing exit"},
      {"timeout-exceeded",
       R"(\btimeout(\s+[a-z]+){0,3}\s+exceeded\b|\bexceeded\s+(the\s+|its\s+|a\s+)?([a-z]+\s+)?timeout\b)", nullptr,
       "Cancel 2 running task(s), timeout graceful shutdown exceeded"},
      {"shutdown-timeout", R"(\bshutdown[ _-]?timeout\b)",
       R"(shutdown[ _-]?timeout\s*(=|:\s*[0-9]|\(|[0-9]|of\s+[0-9]|is\b|set\b))", "shutdown timeout, forcing exit"},
      {"timeout-expired", R"(\b(timeout|deadline|grace period)\s+(has\s+|was\s+)?(reached|expired|elapsed)\b)", nullptr,
       "grace period expired, closing 4 connections"},
      {"not-within-timeout",
       R"(\b(failed|unable|not|couldn't|could not|did not|didn't)\b[^.]*\bwithin\s+(the\s+|its\s+|a\s+)?(timeout|deadline|grace period|[0-9][0-9.]*\s*(ms|s|sec|secs|seconds?|m|min|mins|minutes?)\b))",
       nullptr, "Failed to shut down 1 bean with phase value 2147483647 within timeout of 30000ms"},
      {"graceful-shutdown-aborted", R"(\bgraceful shutdown (was\s+)?aborted\b)", nullptr,
       "Graceful shutdown aborted with one or more requests still active"},
      {"timeout-exception", R"(timeout(error|exception)\b)", nullptr,
       "asyncio.exceptions.TimeoutError: waiting for the server to close"},
      {"etimedout", R"(\betimedout\b)", nullptr, "Error: read ETIMEDOUT"},
      {"io-timeout", R"(\bi/o timeout\b)", nullptr, "read tcp 127.0.0.1:8080->127.0.0.1:41234: i/o timeout"},
      {"worker-timeout", R"(\bworker timeout\b)", nullptr, "[CRITICAL] WORKER TIMEOUT (pid:4242)"},
  };
  return kLines;
}

std::vector<std::string> BuiltinLineFingerprintNames() {
  std::vector<std::string> names{kFpWebsocketTimeout};
  for (const auto& g : GenericTimeoutLines()) names.emplace_back(g.name);
  return names;
}

bool IsBuiltinFingerprint(std::string_view name) {
  if (name == kFpWebsocketTimeout || name == kFpLatencyAtTimeout || name == kFpSilentWatchdogKill ||
      name == kFpForeignSigkill)
    return true;
  const auto& lines = GenericTimeoutLines();
  return std::any_of(lines.begin(), lines.end(), [&](const GenericTimeoutLine& g) { return name == g.name; });
}

Result<std::shared_ptr<const FingerprintSet>> FingerprintSet::Create(const std::vector<std::string>& user_specs,
                                                                     const std::vector<std::string>& disabled) {
  auto set = std::make_shared<FingerprintSet>();
  const std::vector<std::string> names = BuiltinLineFingerprintNames();
  for (const auto& name : disabled)
    if (std::find(names.begin(), names.end(), name) == names.end())
      return Error{fmt::format("--no-fingerprint {}: not a built-in line fingerprint (names: {})", name,
                               fmt::join(names, ", "))};
  auto enabled = [&](std::string_view name) {
    return std::find(disabled.begin(), disabled.end(), name) == disabled.end();
  };
  RE2::Options options;
  options.set_log_errors(false);
  set->websocket_timeout_ = std::make_unique<RE2>(kWebsocketTimeoutPattern, options);
  set->websocket_enabled_ = enabled(kFpWebsocketTimeout);

  RE2::Options generic_options = options;
  generic_options.set_case_sensitive(false);
  auto generic_set = std::make_unique<RE2::Set>(generic_options, RE2::UNANCHORED);
  for (const auto& g : GenericTimeoutLines()) {
    if (!enabled(g.name)) continue;
    std::string error;
    // The patterns are ours: one that does not compile is a bug that every test run shows.
    if (generic_set->Add(g.pattern, &error) < 0)
      return Error{fmt::format("built-in fingerprint {}: {}", g.name, error)};
    Generic entry{g.name, std::make_unique<RE2>(g.pattern, generic_options), nullptr};
    if (g.unless) entry.unless = std::make_unique<RE2>(g.unless, generic_options);
    set->generic_.push_back(std::move(entry));
  }
  if (!set->generic_.empty()) {
    if (!generic_set->Compile()) return Error{"the built-in timeout fingerprints do not compile"};
    set->generic_set_ = std::move(generic_set);
  }

  for (const auto& spec : user_specs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0)
      return Error{fmt::format("invalid --fingerprint \"{}\": want NAME=REGEX", spec)};
    if (IsBuiltinFingerprint(spec.substr(0, eq)))
      return Error{
          fmt::format("invalid --fingerprint \"{}\": {} is a built-in fingerprint's name", spec, spec.substr(0, eq))};
    RE2::Options user_options = options;
    user_options.set_max_mem(kUserFingerprintMaxMem);
    auto regex = std::make_unique<RE2>(spec.substr(eq + 1), user_options);
    if (!regex->ok())
      return Error{fmt::format("invalid --fingerprint \"{}\": {}{}", spec, regex->error(),
                               regex->error_code() == RE2::ErrorPatternTooLarge
                                   ? " (over the 1 MiB a fingerprint's compiled program may take)"
                                   : "")};
    set->user_.push_back({spec.substr(0, eq), std::move(regex)});
  }
  return std::shared_ptr<const FingerprintSet>(std::move(set));
}

void FingerprintSet::Scan(std::string_view line, StopPhase phase, std::set<std::string>& matched) const {
  const re2::StringPiece piece(line.data(), line.size());
  bool exact = false;
  if (websocket_enabled_ && RE2::PartialMatch(piece, *websocket_timeout_)) {
    matched.insert(kFpWebsocketTimeout);
    exact = true;
  }
  // Before the signal a server may print anything about its timeouts (its settings, a client's
  // request that timed out); only what it prints while it stops says how the stop went.
  if (generic_set_ && !exact && phase == StopPhase::kAfterSignal) {
    std::vector<int> hits;
    RE2::Set::ErrorInfo error{RE2::Set::kNoError};
    if (!generic_set_->Match(piece, &hits, &error) && error.kind != RE2::Set::kNoError) {
      // The set gives up where its DFA would need too many states; each pattern alone never does.
      hits.clear();
      for (size_t i = 0; i < generic_.size(); ++i)
        if (RE2::PartialMatch(piece, *generic_[i].regex)) hits.push_back(static_cast<int>(i));
    }
    for (int i : hits) {
      const Generic& g = generic_[static_cast<size_t>(i)];
      if (!g.unless || !RE2::PartialMatch(piece, *g.unless)) matched.insert(g.name);
    }
  }
  // A pattern whose DFA thrashes costs ~20 ms per 64 KiB (400 times a plain one) on the reader thread,
  // which then stops draining the target's pipes: user patterns see each line's head only.
  const re2::StringPiece head(line.data(), std::min(line.size(), kUserFingerprintScanBytes));
  for (const auto& p : user_)
    if (RE2::PartialMatch(head, *p.regex)) matched.insert(p.name);
}

bool FingerprintSet::IsTimeoutFingerprint(std::string_view name) {
  if (name == kFpWebsocketTimeout || name == kFpLatencyAtTimeout) return true;
  const auto& lines = GenericTimeoutLines();
  return std::any_of(lines.begin(), lines.end(), [&](const GenericTimeoutLine& g) { return name == g.name; });
}

std::optional<double> FingerprintSet::TimeoutSeconds(std::string_view line) const {
  double seconds = 0;
  if (RE2::PartialMatch(re2::StringPiece(line.data(), line.size()), *websocket_timeout_, &seconds)) return seconds;
  return std::nullopt;
}

bool LatencyAtKnownTimeout(double latency_ms, const std::vector<double>& timeouts_ms) {
  return std::any_of(timeouts_ms.begin(), timeouts_ms.end(), [&](double t) {
    return t > 0 && latency_ms >= t * 0.99 && latency_ms <= t + std::max(250.0, t * 0.05);
  });
}

}  // namespace coder::harness
