#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "harness/analysis/run_record.h"
#include "harness/report/report.h"
#include "harness/report/report_sections.h"

namespace coder::harness::testing {

/// A small experiment in the shape of the built-in matrix: a clean gated variant, the unpatched
/// baseline with its 10 s tails, and a gated variant with one slow run (index 2) whose log tail holds
/// `hostile_line`.
struct SampleExperiment {
  std::vector<VariantSpec> specs;
  std::vector<RunRecord> runs;
  ReportMeta meta;
};
SampleExperiment MakeSampleExperiment(const std::string& hostile_line = "plain line");

/// ReportJson of the experiment, each variant summarised from its runs.
nlohmann::json ReportOf(const SampleExperiment& e);

/// A `budget` object per docs/report-schema.md: a 17 GiB budget, measured well within it, projected
/// (every target at 7.6 GiB) over it.
nlohmann::json SampleBudget();
/// `comparisons` of the two gated variants against the baseline; none a regression unless `regression`.
nlohmann::json SampleComparisons(bool regression = false);
/// A `gate` as the harness writes it: one finding per run that is not clean (gated as its variant),
/// plus a budget finding when `budget_finding`; `fail_on` as given.
nlohmann::json GateOf(const SampleExperiment& e, const std::vector<std::string>& fail_on, bool budget_finding);
/// Every key: ReportOf + SampleBudget + SampleComparisons + GateOf(all kinds, with the budget finding).
nlohmann::json FullSampleReport(const std::string& hostile_line = "plain line");

/// Timeouts found without naming them: "hangs" (3 runs the watchdog killed at ~8 s, one clean 12 ms stop),
/// "go" (3 clean stops at ~3 s: a fixed tail) and the "quick" baseline; a comparison of hangs against
/// quick whose p95 ratio is a lower bound. No gate, so findings are derived from the runs.
nlohmann::json TimeoutsReport();

/// A whole report document read as every reader reads one (ReadWholeReport, strict), then rendered. A
/// read error fails the calling test and renders "".
std::string JunitOf(const nlohmann::json& report);
std::string MarkdownOf(const nlohmann::json& report);
std::string AnnotationsOf(const nlohmann::json& report);
/// ChooseSections of the document read strictly; a read error fails the calling test.
ReportSections SectionsOf(const nlohmann::json& report);

}  // namespace coder::harness::testing
