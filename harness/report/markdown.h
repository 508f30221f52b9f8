#pragma once

#include <string>
#include <string_view>

#include "harness/report/report_document.h"
#include "harness/report/run_store.h"

#include "common/result.h"

namespace coder::harness {

/// The report document (docs/report-schema.md, with `budget`, `comparisons` and `gate` when present)
/// as GitHub-flavoured Markdown, in this order:
/// - a heading and a one-line verdict (✅ no failing finding, ❌ gated findings, ⚠️ interrupted or the
///   harness failed), as ReportVerdict words it;
/// - the summary table, one row per variant: gate, runs, outcomes, shutdown latency min/p50/p95/p99/max,
///   ready p50, tree peak RSS p50/max, dominant step, fingerprints;
/// - the held wait-group slots of variants that named any;
///   (the dominant step column, the held slots and the memory section only as ChooseSections says)
/// - with `comparisons`: variant/baseline latency ratios with their 95% intervals, timeout rates, peak
///   RSS ratio, the shutdown seconds of a suite of K stops for both, and whether it is a regression;
/// - with `budget`: measured and projected figures in separate, labelled columns (projected figures are
///   not measurements), against the budget, with Little's law shown on both sides;
/// - the gate's findings (failing ones first, at most 50 rows, then a count of the rest);
/// - for the first run of each variant that was killed by the watchdog, timed out, was slow or crashed,
///   its last 10 output lines with stream and time (run_output.h), in a fenced block no line can close;
/// - the notes.
/// Text from the report is escaped so it cannot break a table or inject markup (pipes, backticks,
/// HTML, emphasis); control characters become spaces, bytes that are not UTF-8 U+FFFD. Ends with a
/// newline. Pure function; thread-safe. `runs` are the document's runs, read as needed.
std::string RenderMarkdown(const ReportDocument& report, const RunSource& runs);

/// `text` safe inside Markdown prose and table cells (see RenderMarkdown).
std::string MarkdownEscape(std::string_view text);

/// Appends `markdown` (plus a newline if it lacks one) to the file named by $GITHUB_STEP_SUMMARY, as
/// GitHub Actions expects of a step; creates the file if needed. A no-op (Ok) when the variable is
/// unset or empty. The Error names the file.
Status AppendGithubStepSummary(const std::string& markdown);

}  // namespace coder::harness
