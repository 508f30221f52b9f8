#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "harness/analysis/gate.h"
#include "harness/analysis/run_record.h"
#include "harness/experiment/history_recording.h"
#include "harness/report/report.h"
#include "harness/report/run_store.h"

namespace coder::harness {

/// What an experiment produced.
struct Experiment {
  std::vector<VariantSpec> variants;
  /// Every recorded run, read back in report order (a RunStore for a live experiment, so that memory
  /// stays bounded whatever the run count; InMemoryRuns for a merge). Never null.
  std::shared_ptr<const RunSource> runs;
  ReportMeta meta;  ///< filled by the caller; exit_code is set here
};

struct ReportOptions {
  std::optional<std::filesystem::path> json;
  std::optional<std::filesystem::path> junit;
  std::optional<std::filesystem::path> markdown;
  std::optional<uint64_t> memory_budget_bytes;
  std::optional<uint64_t> assume_rss_bytes;
  int suite_stops = 10;
  double regression_ratio = 2.0;
  std::set<FindingKind> fail_on;
  /// False for merged reports: timelines taken on different machines cannot be laid on one clock.
  bool analyse_budget = true;
  /// Output that already failed during the runs (the JSON lines file): the exit status is 3 unless
  /// interrupted, the reports record that status, and the errors are printed with the verdict.
  std::vector<std::string> earlier_errors;
  /// Under GitHub Actions, the token of a `::stop-commands::TOKEN` printed before any target's output
  /// could reach the log: `::TOKEN::` resumes workflow commands right before the harness's own
  /// annotations, so a line a target printed can never be taken for one. Empty: none was printed.
  std::string resume_commands_token;
  /// --history: the runs are ingested and checked before the reports are written, which carry the
  /// verdicts; a history that fails is exit 3 (the reports are still written). Not for an interrupted
  /// experiment, whose runs were cut short by the interruption rather than by the server.
  std::optional<HistoryRecording> history;
};

/// Summarises every variant, compares each with its baseline, analyses the memory the runs held together,
/// collects and gates the findings, prints the summary table and a verdict, and writes every requested
/// report (JSON, JUnit, Markdown and $GITHUB_STEP_SUMMARY, GitHub annotations under GITHUB_ACTIONS=true).
/// Returns the exit code: 130 if meta.interrupted, else 3 if a report (or the history) could not be written, else 1 for
/// gated findings of a kind in fail_on, else 0.
int ReportExperiment(Experiment experiment, const ReportOptions& options);

/// The baseline `variant` is compared with: the baseline whose labels differ from the variant's only in
/// the shutdown order (builtin::DiffersOnlyInOrder: the built-in matrix), else the first baseline other
/// than `variant`. Names are never parsed. nullptr when none.
const VariantSpec* BaselineFor(const VariantSpec& variant, const std::vector<VariantSpec>& variants);

}  // namespace coder::harness
