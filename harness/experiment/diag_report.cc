#include "harness/experiment/diag_report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "common/file_util.h"
#include "common/terminal_text.h"
#include "harness/analysis/budget.h"
#include "harness/analysis/compare.h"
#include "harness/analysis/exit_codes.h"
#include "harness/analysis/run_output.h"
#include "harness/analysis/stats.h"
#include "harness/analysis/variant_tally.h"
#include "harness/builtin/builtin_server.h"
#include "harness/report/annotations.h"
#include "harness/report/junit.h"
#include "harness/report/markdown.h"
#include "harness/report/report_document.h"
#include "harness/report/report_sections.h"

namespace coder::harness {
namespace {

std::string BudgetLine(std::string_view label, const BudgetAnalysis& a, std::optional<uint64_t> budget) {
  std::string line =
      fmt::format("    {:<10} peak {} at {:.1f}s (tails {}), mean live {:.2f} = {:.2f}/s x {} (tail share {:.0f}%)",
                  label, FormatBytes(a.peak_total_bytes), a.peak_total_at_ms / 1e3, FormatBytes(a.peak_tail_bytes),
                  a.mean_live, a.arrival_rate_per_s, FormatMs(a.mean_lifetime_ms), a.tail_share * 100);
  if (budget)
    line += a.over_budget
                ? fmt::format("  OVER the {} budget for {:.2f}s", FormatBytes(*budget), a.time_over_budget_ms / 1e3)
                : fmt::format("  within the {} budget", FormatBytes(*budget));
  return line + "\n";
}

}  // namespace

const VariantSpec* BaselineFor(const VariantSpec& variant, const std::vector<VariantSpec>& variants) {
  const VariantSpec* first = nullptr;
  for (const auto& v : variants) {
    if (!v.baseline || v.name == variant.name) continue;
    if (!first) first = &v;
    if (builtin::DiffersOnlyInOrder(variant, v)) return &v;
  }
  return first;
}

namespace {

/// What one pass over the runs, in report order, gathers for the report.
struct RunTallies {
  std::vector<VariantTally> variants;  ///< in the experiment's variant order
  FirstHangPerVariant first_hangs;     ///< what the hang notes show
  std::optional<std::string> read_error;
};

/// The RSS samples the memory budget may keep over the whole experiment (16 bytes each, and as much
/// again while it is analysed): an experiment of up to 2048 full 512-sample timelines is analysed on
/// every sample; beyond that each run keeps an equal share of this (at least its first, last and peak samples), so the
/// budget's memory stays bounded whatever the run count.
constexpr size_t kBudgetSamples = size_t{1} << 20;
constexpr size_t kMinBudgetSamplesPerRun = 4;

RunTallies TallyRuns(const Experiment& e) {
  RunTallies t;
  const size_t per_run =
      std::clamp(kBudgetSamples / std::max<size_t>(1, e.runs->size()), kMinBudgetSamplesPerRun, kRssTimelineMaxPoints);
  for (const VariantSpec& v : e.variants) t.variants.emplace_back(v, per_run);
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < e.variants.size(); ++i) position.emplace(e.variants[i].name, i);
  const Status read = e.runs->ForEach([&](const RunRecord& r) -> Status {
    const auto it = position.find(r.variant);
    if (it != position.end()) t.variants[it->second].Add(r);
    t.first_hangs.Add(r);
    return Ok{};
  });
  if (!read) t.read_error = read.error().message;
  return t;
}

std::string RegressionMessage(const Comparison& c, double regression_ratio) {
  if (c.p95_ratio->bound == RatioEstimate::Bound::kLowerBound)
    return fmt::format(
        "p95 shutdown latency at least {:.2f}x the baseline {} (95% interval from {:.2f}x; "
        "runs killed by the watchdog make the variant's p95 a lower bound), over {}x",
        c.p95_ratio->ratio, c.baseline, c.p95_ratio->ci_low, regression_ratio);
  return fmt::format("p95 shutdown latency {:.2f}x the baseline {} (95% interval {:.2f}-{:.2f}x), over {}x",
                     c.p95_ratio->ratio, c.baseline, c.p95_ratio->ci_low, c.p95_ratio->ci_high, regression_ratio);
}

/// Each gated variant against its baseline; a regression becomes an experiment finding.
std::vector<Comparison> CompareWithBaselines(const Experiment& e, const RunTallies& t, const ReportOptions& o,
                                             ExperimentFindings& findings) {
  std::vector<Comparison> comparisons;
  for (size_t i = 0; i < e.variants.size(); ++i) {
    const VariantSpec& v = e.variants[i];
    if (v.baseline) continue;
    const VariantSpec* base = BaselineFor(v, e.variants);
    if (!base) continue;
    const auto b = static_cast<size_t>(base - e.variants.data());
    comparisons.push_back(Compare(t.variants[i], t.variants[b], o.suite_stops, o.regression_ratio));
    const Comparison& c = comparisons.back();
    if (c.regression && c.p95_ratio) findings.regressions.push_back({v.name, RegressionMessage(c, o.regression_ratio)});
  }
  return comparisons;
}

std::string ComparisonText(const std::vector<Comparison>& comparisons, int suite_stops) {
  if (comparisons.empty()) return "";
  auto end = [](double r) { return std::isfinite(r) ? FormatRatio(r) : std::string("inf"); };
  auto ratio = [&](const std::optional<RatioEstimate>& r) {
    if (!r) return std::string("-");
    using Bound = RatioEstimate::Bound;
    if (r->bound == Bound::kIndeterminate) return std::string("? (both censored)");
    const char* prefix = r->bound == Bound::kLowerBound ? ">= " : r->bound == Bound::kUpperBound ? "<= " : "";
    return fmt::format("{}{} [{}, {}]", prefix, FormatRatio(r->ratio), end(r->ci_low), end(r->ci_high));
  };
  auto suite = [](double seconds, bool lower_bound) {
    return fmt::format("{}{:.2f}s", lower_bound ? ">= " : "", seconds);
  };
  std::string text =
      fmt::format("\nCompared with the baseline (latency ratios with 95% bootstrap intervals; a suite of {} stops):\n",
                  suite_stops);
  for (const auto& c : comparisons) {
    text += fmt::format("  {} vs {}{}\n", c.variant, c.baseline, c.regression ? "  REGRESSION" : "");
    text += fmt::format("    p50 {}   p95 {}   timeouts {:.0f}% vs {:.0f}%   suite shutdown {} vs {}\n",
                        ratio(c.p50_ratio), ratio(c.p95_ratio), c.timeout_rate * 100, c.baseline_timeout_rate * 100,
                        suite(c.suite_shutdown_seconds, c.suite_shutdown_lower_bound),
                        suite(c.baseline_suite_shutdown_seconds, c.baseline_suite_shutdown_lower_bound));
  }
  return text;
}

/// The memory the runs held: all together (what the runner held), and each variant's runs as a schedule
/// of its own (in open loop a variant is a block of its own, so that is its suite).
struct MemoryAnalysis {
  std::optional<BudgetAnalysis> measured;
  std::optional<BudgetAnalysis> projected;
  std::vector<VariantBudget> per_variant;
  std::string variant_lines;
};

std::optional<std::string> OverBudget(const ReportOptions& o, const BudgetAnalysis& m,
                                      const std::optional<BudgetAnalysis>& p) {
  if (!o.memory_budget_bytes) return std::nullopt;
  if (m.over_budget)
    return fmt::format("measured peak {} of live targets exceeds the {} budget for {:.2f}s",
                       FormatBytes(m.peak_total_bytes), FormatBytes(*o.memory_budget_bytes),
                       m.time_over_budget_ms / 1e3);
  if (p && p->over_budget)
    return fmt::format("projected peak {} (every target at {}) exceeds the {} budget for {:.2f}s; measured peak {}",
                       FormatBytes(p->peak_total_bytes), FormatBytes(*o.assume_rss_bytes),
                       FormatBytes(*o.memory_budget_bytes), p->time_over_budget_ms / 1e3,
                       FormatBytes(m.peak_total_bytes));
  return std::nullopt;
}

MemoryAnalysis AnalyseMemory(const RunTallies& t, const ReportOptions& o, ExperimentFindings& findings) {
  MemoryAnalysis m;
  if (!o.analyse_budget) return m;
  bool any_variant_over = false;
  std::vector<const TargetTimeline*> all;
  for (const VariantTally& v : t.variants) {
    const auto& timelines = v.Timelines();
    if (timelines.empty()) continue;
    for (const TargetTimeline& timeline : timelines) all.push_back(&timeline);
    const BudgetAnalysis vm = AnalyzeBudget(timelines, o.memory_budget_bytes);
    std::optional<BudgetAnalysis> vp;
    if (o.assume_rss_bytes) vp = ProjectBudget(timelines, *o.assume_rss_bytes, o.memory_budget_bytes);
    m.per_variant.push_back({v.spec().name, vm, vp});
    m.variant_lines += fmt::format("  {}\n", v.spec().name);
    m.variant_lines += BudgetLine("measured", vm, o.memory_budget_bytes);
    if (vp)
      m.variant_lines += BudgetLine(fmt::format("at {}", FormatBytes(*o.assume_rss_bytes)), *vp, o.memory_budget_bytes);
    if (auto why = OverBudget(o, vm, vp)) {
      findings.budgets.push_back({v.spec().name, *why});
      any_variant_over = true;
    }
  }
  if (all.empty()) return m;
  m.measured = AnalyzeBudgetOf(all, o.memory_budget_bytes);
  if (o.assume_rss_bytes) m.projected = ProjectBudgetOf(all, *o.assume_rss_bytes, o.memory_budget_bytes);
  // Together only adds a finding when no variant alone explains it (closed loop mixes variants).
  if (!any_variant_over)
    if (auto why = OverBudget(o, *m.measured, m.projected))
      findings.budgets.push_back({"", *why + " (all variants as run)"});
  return m;
}

std::string MemoryText(const Experiment& e, const MemoryAnalysis& m, const ReportOptions& o) {
  if (!m.measured) return "";
  std::string text = "\nMemory held by live targets together (tails: the part held after the stop signal):\n";
  if (e.variants.size() > 1) text += m.variant_lines + "  all variants as run\n";
  text += BudgetLine("measured", *m.measured, o.memory_budget_bytes);
  if (m.projected)
    text += BudgetLine(fmt::format("at {}", FormatBytes(*o.assume_rss_bytes)), *m.projected, o.memory_budget_bytes);
  return text;
}

/// Everything the report files say but the runs, which the writers read from the experiment's run
/// source as they go.
ReportDocument Document(const Experiment& e, const std::vector<VariantSummary>& summaries, const MemoryAnalysis& m,
                        const ReportOptions& o, const std::vector<Comparison>& comparisons,
                        const std::vector<Finding>& findings, int code) {
  ReportDocument d{.meta = e.meta};
  d.meta.exit_code = code;
  for (size_t i = 0; i < e.variants.size(); ++i)
    d.variants.push_back({e.variants[i], i < summaries.size() ? std::optional(summaries[i]) : std::nullopt});
  if (m.measured)
    d.budget = ReportBudget{.budget_bytes = o.memory_budget_bytes,
                            .assume_rss_bytes = o.assume_rss_bytes,
                            .measured = *m.measured,
                            .projected = m.projected,
                            .variants = m.per_variant};
  if (!comparisons.empty()) d.comparisons = comparisons;
  d.gate = ReportGate{.fail_on = o.fail_on, .exit_code = code, .findings = findings};
  return d;
}

std::vector<std::string> WriteReportFiles(const ReportDocument& document, const RunSource& runs,
                                          const ReportOptions& o) {
  std::vector<std::string> errors;
  if (o.json)
    if (auto ok = WriteReportJson(*o.json, ReportDocumentJson(document), runs); !ok)
      errors.push_back(ok.error().message);
  if (o.junit)
    if (auto ok = WriteFileAtomically(*o.junit, RenderJunit(document, runs)); !ok) errors.push_back(ok.error().message);
  const std::string markdown = RenderMarkdown(document, runs);
  if (o.markdown)
    if (auto ok = WriteFileAtomically(*o.markdown, markdown); !ok) errors.push_back(ok.error().message);
  if (auto ok = AppendGithubStepSummary(markdown); !ok) errors.push_back(ok.error().message);
  return errors;
}

void PrintVerdict(const Experiment& e, const std::vector<Finding>& findings, const ReportOptions& o,
                  const std::vector<std::string>& earlier_errors, const std::vector<std::string>& errors) {
  for (const auto& err : earlier_errors) fmt::print(stderr, "coder diag: {}\n", err);
  for (const auto& err : errors) fmt::print(stderr, "coder diag: {}\n", err);
  std::vector<std::string> failing;
  for (const auto& f : findings)
    if (f.gated && o.fail_on.count(f.kind))
      failing.push_back(TerminalSafe(f.variant.empty() ? f.message : fmt::format("{}: {}", f.variant, f.message)));
  if (e.meta.interrupted) {
    fmt::print(stderr, "coder diag: interrupted; {} runs recorded\n", e.runs->size());
  } else if (!failing.empty()) {
    const size_t shown = std::min<size_t>(failing.size(), 5);
    fmt::print(stderr, "coder diag: {} gated findings, e.g.:\n  {}\n", failing.size(),
               fmt::join(failing.begin(), failing.begin() + static_cast<std::ptrdiff_t>(shown), "\n  "));
  } else {
    fmt::print(stderr, "coder diag: no findings in gated variants\n");
  }
}

}  // namespace

namespace {

// The history's verdicts under the summary table: what was added, then each check as its sentence.
std::string HistoryText(const ReportHistory& history) {
  std::string text = fmt::format("\nhistory {}: {} run{} added, {} already in it\n", TerminalSafe(history.location),
                                 history.added, history.added == 1 ? "" : "s", history.already);
  for (const HistoryVerdict& v : history.verdicts) text += "  " + TerminalSafe(v.sentence) + "\n";
  return text;
}

}  // namespace

int ReportExperiment(Experiment e, const ReportOptions& o) {
  const RunTallies tallies = TallyRuns(e);
  std::vector<VariantSummary> summaries;
  for (const VariantTally& v : tallies.variants) summaries.push_back(v.Summary());
  ExperimentFindings experiment_findings;
  const std::vector<Comparison> comparisons = CompareWithBaselines(e, tallies, o, experiment_findings);
  const MemoryAnalysis memory = AnalyseMemory(tallies, o, experiment_findings);

  // The sections every rendering shows, decided once on what the report holds.
  const ReportSections sections = ChooseSections(Document(e, summaries, memory, o, comparisons, {}, 0));
  std::vector<std::string> order;
  for (const auto& v : e.variants) order.push_back(v.name);
  std::string text = RenderSummaryTable(summaries, sections) + HangOutputNotes(order, tallies.first_hangs) +
                     ComparisonText(comparisons, o.suite_stops);
  if (sections.memory) text += MemoryText(e, memory, o);

  std::vector<std::string> earlier_errors = o.earlier_errors;
  if (tallies.read_error) earlier_errors.push_back(*tallies.read_error);
  // stdout is buffered: a full disk (or /dev/full) shows only at the flush, and a lost table is a failure.
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (std::fflush(stdout) != 0 || std::ferror(stdout))  // the table before the verdict on stderr
    earlier_errors.push_back(fmt::format("writing the summary table to stdout: {}", std::strerror(errno)));

  const auto findings = CollectFindings(tallies.variants, experiment_findings);
  const bool fails = Fails(findings, o.fail_on);
  int exit_code = e.meta.interrupted        ? kDiagInterrupted
                  : !earlier_errors.empty() ? kDiagHarnessFailed
                  : fails                   ? kDiagFindings
                                            : kDiagNoFindings;
  // Built once: only the exit code changes when a file cannot be written.
  ReportDocument document = Document(e, summaries, memory, o, comparisons, findings, exit_code);
  if (o.history && !e.meta.interrupted) {
    std::vector<std::string> variants;
    for (const VariantSpec& v : e.variants) variants.push_back(v.name);
    RecordedHistory recorded = RecordHistory(*o.history, e.meta.started_at, *e.runs, variants);
    if (recorded.history) {
      document.history = std::move(*recorded.history);
      const std::string history_text = HistoryText(*document.history);
      std::fwrite(history_text.data(), 1, history_text.size(), stdout);
    }
    if (recorded.error) {
      // The messages name the history already.
      earlier_errors.push_back("--history: " + WithoutPasswords(recorded.error->message, o.history->location));
      exit_code = kDiagHarnessFailed;
      document.meta.exit_code = document.gate->exit_code = exit_code;
    }
  }
  std::vector<std::string> errors = WriteReportFiles(document, *e.runs, o);
  if (!errors.empty() && exit_code != kDiagInterrupted) {
    exit_code = kDiagHarnessFailed;
    document.meta.exit_code = document.gate->exit_code = exit_code;
    errors = WriteReportFiles(document, *e.runs, o);  // the files that can be written say how it ended
  }
  if (GithubActions()) {
    std::fflush(stderr);
    if (!o.resume_commands_token.empty()) {
      fmt::print(stderr, "::{}::\n", o.resume_commands_token);
      fmt::print("::{}::\n", o.resume_commands_token);
      std::fflush(stdout);
    }
    fmt::print("{}", RenderGithubAnnotations(document, *e.runs));
  }
  std::fflush(stdout);
  PrintVerdict(e, findings, o, earlier_errors, errors);
  return exit_code;
}

}  // namespace coder::harness
