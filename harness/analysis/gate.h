#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "harness/analysis/run_record.h"

namespace coder::harness {

/// What `--fail-on` chooses among.
enum class FindingKind {
  kFingerprint,
  kSlow,
  kWatchdog,
  kCrash,
  kNeverReady,
  kFailedToStart,
  kBudget,
  kRegression,
  kLeftProcesses,  ///< the leader exited while its tree still ran
  kFixedTail,      ///< a variant's stops cluster at one latency (FindFixedTailInRuns): the signature of a timeout
  kClients,        ///< --client connections not all established before the signal: the stop was not tested
  kDropped,        ///< requests the server took and never answered whole
  kHeldByClient,   ///< a slow stop that ended only as held client connections closed
};
std::string_view ToString(FindingKind kind);
/// The kind named `name` ("fingerprint", "fixed-tail", ...); nullopt for any other text.
std::optional<FindingKind> FindingKindFromString(std::string_view name);

/// "all" (the default), "none", or a comma-separated list of: fingerprint, slow, watchdog, crash,
/// never-ready, failed-to-start, budget, regression, left-processes, fixed-tail, clients, dropped,
/// held-by-client.
Result<std::set<FindingKind>> ParseFailOn(const std::string& text);

struct Finding {
  std::string variant;     ///< "" for the whole experiment (the budget)
  std::optional<int> run;  ///< the run index within its variant, if the finding is about one run
  FindingKind kind;
  std::string message;
  bool gated = true;  ///< false for baseline variants: reported, never failing
};

/// Findings that are not about one run.
struct ExperimentFindings {
  std::vector<std::pair<std::string, std::string>> budgets;      ///< variant ("" for all together), why over budget
  std::vector<std::pair<std::string, std::string>> regressions;  ///< variant, message
};

/// One finding per run that was not clean (by its outcome) and per user fingerprint that matched, one per
/// variant whose runs have a fixed tail (FindFixedTailInRuns), plus the experiment's budget and regression
/// findings.
std::vector<Finding> CollectFindings(const std::vector<VariantSpec>& variants, const std::vector<RunRecord>& runs,
                                     const ExperimentFindings& experiment);

/// The finding kind of a run's outcome; nullopt for a clean run.
std::optional<FindingKind> FindingKindOf(Outcome outcome);

/// Whether a run with this outcome did not test the stop at all (it never started or got ready, its
/// clients were not established, or it left processes behind). Its finding gates even in a baseline
/// variant: a baseline that was not measured makes every comparison with it meaningless.
bool LeavesTheStopUntested(Outcome outcome);

/// Appends the experiment's budget and regression findings, gated as `gated(variant)` says (all variants
/// together, variant "", always gate: they shared the runner's memory).
void AppendExperimentFindings(const std::function<bool(const std::string&)>& gated,
                              const ExperimentFindings& experiment, std::vector<Finding>& out);

/// Whether any gated finding has a kind in `fail_on`.
bool Fails(const std::vector<Finding>& findings, const std::set<FindingKind>& fail_on);

nlohmann::json GateJson(const std::set<FindingKind>& fail_on, const std::vector<Finding>& findings, int exit_code);

}  // namespace coder::harness
