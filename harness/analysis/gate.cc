#include "harness/analysis/gate.h"

#include "common/enum_names.h"

#include <fmt/format.h>

#include "harness/analysis/fingerprint.h"
#include "harness/analysis/stats.h"
#include "harness/analysis/variant_tally.h"

namespace coder::harness {
namespace {

constexpr std::pair<FindingKind, std::string_view> kNames[] = {
    {FindingKind::kFingerprint, "fingerprint"},
    {FindingKind::kSlow, "slow"},
    {FindingKind::kWatchdog, "watchdog"},
    {FindingKind::kCrash, "crash"},
    {FindingKind::kNeverReady, "never-ready"},
    {FindingKind::kFailedToStart, "failed-to-start"},
    {FindingKind::kBudget, "budget"},
    {FindingKind::kRegression, "regression"},
    {FindingKind::kLeftProcesses, "left-processes"},
    {FindingKind::kFixedTail, "fixed-tail"},
    {FindingKind::kClients, "clients"},
    {FindingKind::kDropped, "dropped"},
    {FindingKind::kHeldByClient, "held-by-client"},
};

std::string KindNames() {
  std::string out;
  for (const auto& [k, name] : kNames) out += fmt::format("{}{}", out.empty() ? "" : ", ", name);
  return out;
}

}  // namespace

std::optional<FindingKind> FindingKindOf(Outcome outcome) {
  switch (outcome) {
    case Outcome::kFailedToStart: return FindingKind::kFailedToStart;
    case Outcome::kNeverReady: return FindingKind::kNeverReady;
    case Outcome::kCrashed: return FindingKind::kCrash;
    case Outcome::kKilledByWatchdog: return FindingKind::kWatchdog;
    case Outcome::kLeftProcesses: return FindingKind::kLeftProcesses;
    case Outcome::kClientsNotEstablished: return FindingKind::kClients;
    case Outcome::kTimeoutFingerprint: return FindingKind::kFingerprint;
    case Outcome::kSlow: return FindingKind::kSlow;
    case Outcome::kClean: return std::nullopt;
  }
  return std::nullopt;
}

bool LeavesTheStopUntested(Outcome outcome) {
  return outcome == Outcome::kFailedToStart || outcome == Outcome::kNeverReady ||
         outcome == Outcome::kClientsNotEstablished || outcome == Outcome::kLeftProcesses;
}

std::string_view ToString(FindingKind kind) { return NameIn(kNames, kind); }

std::optional<FindingKind> FindingKindFromString(std::string_view name) { return ValueNamed(kNames, name); }

Result<std::set<FindingKind>> ParseFailOn(const std::string& text) {
  std::set<FindingKind> kinds;
  if (text == "none") return kinds;
  if (text == "all" || text.empty()) {
    for (const auto& [k, name] : kNames) kinds.insert(k);
    return kinds;
  }
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const auto kind = ValueNamed(kNames, item);
    if (!kind)
      return Error{fmt::format("--fail-on: unknown kind \"{}\" (all, none, or a list of {})", item, KindNames())};
    kinds.insert(*kind);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return kinds;
}

std::vector<Finding> CollectFindings(const std::vector<VariantSpec>& variants, const std::vector<RunRecord>& runs,
                                     const ExperimentFindings& experiment) {
  auto gated = [&](const std::string& name) {
    for (const auto& v : variants)
      if (v.name == name) return v.gated;
    return true;
  };
  std::vector<Finding> findings;
  for (const auto& r : runs) AppendRunFindings(r, gated(r.variant), findings);
  // A fixed tail is a property of a variant's runs together, not of any one of them.
  for (const auto& v : variants) {
    std::vector<RunRecord> mine;
    for (const auto& r : runs)
      if (r.variant == v.name) mine.push_back(r);
    if (auto tail = FindFixedTailInRuns(mine))
      findings.push_back(
          {v.name, std::nullopt, FindingKind::kFixedTail, tail->Describe() + ": the signature of a timeout", v.gated});
  }
  AppendExperimentFindings(gated, experiment, findings);
  return findings;
}

void AppendExperimentFindings(const std::function<bool(const std::string&)>& gated,
                              const ExperimentFindings& experiment, std::vector<Finding>& out) {
  // A variant's own schedule over budget gates like its runs do; all variants together always gate,
  // since they shared the runner's memory.
  for (const auto& [variant, message] : experiment.budgets)
    out.push_back({variant, std::nullopt, FindingKind::kBudget, message, variant.empty() || gated(variant)});
  for (const auto& [variant, message] : experiment.regressions)
    out.push_back({variant, std::nullopt, FindingKind::kRegression, message, gated(variant)});
}

bool Fails(const std::vector<Finding>& findings, const std::set<FindingKind>& fail_on) {
  for (const auto& f : findings)
    if (f.gated && fail_on.count(f.kind)) return true;
  return false;
}

nlohmann::json GateJson(const std::set<FindingKind>& fail_on, const std::vector<Finding>& findings, int exit_code) {
  nlohmann::json kinds = nlohmann::json::array();
  for (auto k : fail_on) kinds.push_back(ToString(k));
  nlohmann::json list = nlohmann::json::array();
  for (const auto& f : findings) {
    list.push_back({{"variant", f.variant},
                    {"run", f.run ? nlohmann::json(*f.run) : nlohmann::json(nullptr)},
                    {"kind", ToString(f.kind)},
                    {"message", f.message},
                    {"gated", f.gated}});
  }
  return {{"fail_on", kinds}, {"exit_code", exit_code}, {"findings", list}};
}

}  // namespace coder::harness
