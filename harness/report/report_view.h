#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/terminal_text.h"
#include "harness/report/report_document.h"
#include "harness/report/run_store.h"

namespace coder::harness {

// What the CI formats (JUnit, Markdown, annotations) say alike about a report document
// (harness/report/report_document.h). All functions are pure and thread-safe.

/// One finding, as the gate saw it.
struct ReportFinding {
  std::string variant;     ///< "" for all variants together (the memory budget)
  std::optional<int> run;  ///< the run index within its variant, if the finding is about one run
  std::string
      kind;  ///< fingerprint, slow, watchdog, crash, never-ready, failed-to-start, budget, regression, fixed-tail
  std::string message;
  bool gated = true;  ///< false for a baseline variant: reported, never failing
  bool fails = true;  ///< gated and of a kind in the gate's `fail_on`: it decides the exit code
};

/// The report's gate findings (`fails` = gated and kind in `fail_on`). Without a gate (a merged report
/// before its gate is recomputed), findings are derived from the runs as the harness's CollectFindings
/// would, with every kind failing: one per run whose outcome is not clean, one per user fingerprint that
/// matched and one per variant with a fixed tail (budget and regression findings need thresholds the
/// report does not hold, so none are derived).
std::vector<ReportFinding> ReportFindings(const ReportDocument& report, const RunSource& runs);

/// A whole report document read strictly (ReadReportDocument, ReadReportRuns) into the document and its
/// runs: what the renderers take. The Error names the bad key.
struct ReadReport {
  ReportDocument document;
  InMemoryRuns runs;
};
Result<ReadReport> ReadWholeReport(const nlohmann::json& report);

/// One line for humans: "no findings in gated variants", "3 gated findings in 1 variant (a)",
/// "interrupted: partial report, ..." etc. Without the "coder diag shutdown: " prefix.
std::string ReportVerdict(const ReportDocument& report, const RunSource& runs);

/// The summary's non-zero outcome counts, most severe first: "4 timeout-fingerprint, 1 clean"; "-" if none.
std::string OutcomeCountsText(const VariantSummary& summary);
/// A name → count map as "5 websocket-shutdown-timeout, 2 x", most frequent first (ties by name);
/// "-" if empty.
std::string CountsText(const std::map<std::string, size_t>& counts);

/// A statistic of a distribution by name ("min", "p50", "p95", "p99", "max", "mean"); nullopt when
/// nothing was measured (n == 0) or the name is not a statistic.
std::optional<double> Statistic(const Distribution& d, std::string_view stat);
/// A duration statistic via FormatMs, "-" when not measured (or no summary); prefixed with `at_least`
/// when the distribution lists it in `lower_bounds` (">= 30.005s").
std::string DistributionMs(const VariantSummary* summary, const Distribution VariantSummary::*distribution,
                           std::string_view stat, std::string_view at_least = ">= ");
/// The same for a byte distribution via FormatBytes.
std::string DistributionBytes(const VariantSummary* summary, const Distribution VariantSummary::*distribution,
                              std::string_view stat);
/// The fixed tail as FixedTail::Describe() says it ("stops cluster at 3.002s (8 of 10 runs within
/// 21.0ms)"); empty when there is none (or no summary).
std::string FixedTailText(const VariantSummary* summary);
/// Bytes via FormatBytes, "-" when absent.
std::string BytesOrNone(std::optional<uint64_t> bytes);

/// An estimate with FormatRatio (harness/report.h): "1/1158x (1/1200x-1/1100x)"; an infinite interval
/// end is "inf"; a lower bound prefixes the ratio with `at_least` (">= 3.10x (3.00x-inf)"), an upper one
/// with `at_most`, and an indeterminate one is "? (both censored)"; "-" when there is none or its ratio
/// is infinite.
std::string FormatRatioEstimate(const std::optional<RatioEstimate>& estimate,
                                std::string_view at_least = ">= ", std::string_view at_most = "<= ");

/// The comparison of `variant` with its baseline, or nullptr.
const Comparison* ComparisonOf(const ReportDocument& report, std::string_view variant);

}  // namespace coder::harness
