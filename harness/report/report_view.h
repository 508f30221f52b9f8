#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/terminal_text.h"
#include "harness/report/run_store.h"

namespace coder::harness {

// Reading a report document (docs/report-schema.md) for the CI formats: JUnit, Markdown, annotations.
// A report may come from a file written by an older or newer harness, or be hand-edited, so every
// accessor here is tolerant: a missing key, a null, or a value of another type reads as absent, and
// nothing throws. All functions are pure and thread-safe.

/// `j[key]` when `j` is an object holding `key` with a non-null value, else nullptr.
const nlohmann::json* Member(const nlohmann::json& j, std::string_view key);
/// The string at `key`, or `fallback`.
std::string StringMember(const nlohmann::json& j, std::string_view key, std::string_view fallback = "");
/// The number at `key` (integer or floating), or nullopt.
std::optional<double> NumberMember(const nlohmann::json& j, std::string_view key);
/// The boolean at `key`, or `fallback`.
bool BoolMember(const nlohmann::json& j, std::string_view key, bool fallback = false);
/// The elements of the array at `key` (empty when it is not an array).
std::vector<const nlohmann::json*> ArrayMember(const nlohmann::json& j, std::string_view key);

/// One variant as the report lists it.
struct VariantView {
  std::string name;
  bool gated = true;
  bool baseline = false;
  const nlohmann::json* summary = nullptr;  ///< the `summary` object, or nullptr
};
/// `variants[]` in report order; entries without a string `spec.name` are skipped.
std::vector<VariantView> ReportVariants(const nlohmann::json& report);

/// One finding, as the gate saw it.
struct ReportFinding {
  std::string variant;     ///< "" for all variants together (the memory budget)
  std::optional<int> run;  ///< the run index within its variant, if the finding is about one run
  std::string kind;  ///< fingerprint, slow, watchdog, crash, never-ready, failed-to-start, budget, regression, fixed-tail
  std::string message;
  bool gated = true;  ///< false for a baseline variant: reported, never failing
  bool fails = true;  ///< gated and of a kind in the gate's `fail_on`: it decides the exit code
};

/// The report's `gate.findings` when `gate` is present (`fails` = gated and kind in `gate.fail_on`).
/// Without a gate (an older report, or a merged one before its gate is recomputed), findings are
/// derived from the runs as the harness's CollectFindings would, with every kind failing: one per run
/// whose outcome is not clean, one per user fingerprint that matched and one per variant with a fixed
/// tail (budget and regression findings need thresholds the report does not hold, so none are derived).
std::vector<ReportFinding> ReportFindings(const nlohmann::json& report, const RunSource& runs);

/// A whole report document split into the document without `runs` (its outline) and its runs, read as
/// run records (an entry that is not a valid run record is skipped): what the renderers take.
struct SplitReport {
  nlohmann::json outline;
  InMemoryRuns runs;
};
SplitReport SplitRuns(const nlohmann::json& report);

/// `meta.exit_code`, which the harness sets from the gate; 0 when absent.
int ReportExitCode(const nlohmann::json& report);
/// `meta.interrupted`.
bool ReportInterrupted(const nlohmann::json& report);

/// One line for humans: "no findings in gated variants", "3 gated findings in 1 variant (a)",
/// "interrupted: partial report, ..." etc. Without the "coder diag shutdown: " prefix.
std::string ReportVerdict(const nlohmann::json& report, const RunSource& runs);

/// The summary's non-zero outcome counts, most severe first: "4 timeout-fingerprint, 1 clean"; "-" if none.
std::string OutcomeCountsText(const nlohmann::json& summary);
/// A name → count object as "5 websocket-shutdown-timeout, 2 x", most frequent first (ties by name);
/// "-" if empty.
std::string CountsText(const nlohmann::json* counts);

/// A distribution statistic (`latency_ms.p50` ...) as a duration via FormatMs, "-" when not measured;
/// prefixed with `at_least` when the distribution lists it in `lower_bounds` (">= 30.005s").
std::string DistributionMs(const nlohmann::json* summary, std::string_view distribution, std::string_view stat,
                           std::string_view at_least = ">= ");
/// Whether a distribution of the summary holds censored values (`censored` > 0).
size_t CensoredCount(const nlohmann::json* summary, std::string_view distribution);
/// The summary's `fixed_tail` as FixedTail::Describe() says it ("stops cluster at 3.002s (8 of 10 runs
/// within 21.0ms)"); empty when there is none.
std::string FixedTailText(const nlohmann::json* summary);
/// The same for a byte distribution via FormatBytes.
std::string DistributionBytes(const nlohmann::json* summary, std::string_view distribution, std::string_view stat);
/// Bytes at `key` via FormatBytes, "-" when absent.
std::string BytesMember(const nlohmann::json& j, std::string_view key);

/// A `{"ratio", "ci_low", "ci_high", "bound"}` estimate with FormatRatio (harness/report.h):
/// "1/1158x (1/1200x-1/1100x)"; a null interval end is "inf"; a `bound` of "lower_bound" prefixes the
/// ratio with `at_least` (">= 3.10x (3.00x-inf)"), "upper_bound" with `at_most`, and "indeterminate"
/// is "? (both censored)"; "-" when `estimate` is null.
std::string FormatRatioEstimate(const nlohmann::json* estimate, std::string_view at_least = ">= ",
                                std::string_view at_most = "<= ");


}  // namespace coder::harness
