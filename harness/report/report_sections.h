#pragma once

#include <vector>

#include "harness/analysis/stats.h"
#include "harness/report/report_document.h"

namespace coder::harness {

/// The optional parts of a report. The summary table, the Markdown and the JUnit all show them by
/// this one rule (ChooseSections), so no renderer prints a block that nothing could fill.
struct ReportSections {
  /// The "held wait-group slots" block: some variant's runs named held slots (only the built-in
  /// server's timeout line does).
  bool held_slots = false;
  /// The "dominant step" column: some variant's runs reported shutdown steps (only the built-in server
  /// logs them).
  bool dominant_step = false;
  /// The memory block (overlapping tails, budget): the runs were an open loop (`meta.options.
  /// arrival_interval_ms`), or the report has a memory budget or an assumed RSS (`budget.budget_bytes`,
  /// `budget.assume_rss_bytes`). Closed-loop runs without either overlap too little to be worth it; the
  /// JSON keeps the analysis anyway.
  bool memory = false;
  bool operator==(const ReportSections&) const = default;
};

/// The rule, over a report document. Pure function.
ReportSections ChooseSections(const ReportDocument& report);

/// A report document holding only `summaries` (as its variants' summaries), for the table, which is
/// rendered from summaries. Pure function.
ReportDocument SummariesDocument(const std::vector<VariantSummary>& summaries);

}  // namespace coder::harness
