#include "harness/experiment/diag_report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "common/file_util.h"
#include "harness/report/annotations.h"
#include "harness/analysis/budget.h"
#include "harness/analysis/compare.h"
#include "harness/report/junit.h"
#include "harness/report/markdown.h"
#include "harness/report/report_sections.h"
#include "harness/analysis/run_output.h"
#include "common/terminal_text.h"
#include "harness/analysis/stats.h"

namespace coder::harness {
namespace {

std::vector<RunRecord> RunsOf(const std::vector<RunRecord>& runs, const std::string& variant) {
  std::vector<RunRecord> mine;
  for (const auto& r : runs)
    if (r.variant == variant) mine.push_back(r);
  return mine;
}

// The built-in matrix names variants "order=X,gateway=Y": two variants are a pair when they differ only
// in the order.
std::string WithoutOrder(const std::string& name) {
  if (name.rfind("order=", 0) != 0) return name;
  const auto comma = name.find(',');
  return comma == std::string::npos ? "" : name.substr(comma);
}

std::string BudgetLine(std::string_view label, const BudgetAnalysis& a, std::optional<uint64_t> budget) {
  std::string line = fmt::format("    {:<10} peak {} at {:.1f}s (tails {}), mean live {:.2f} = {:.2f}/s x {} (tail share {:.0f}%)",
                                 label, FormatBytes(a.peak_total_bytes), a.peak_total_at_ms / 1e3,
                                 FormatBytes(a.peak_tail_bytes), a.mean_live, a.arrival_rate_per_s,
                                 FormatMs(a.mean_lifetime_ms), a.tail_share * 100);
  if (budget)
    line += a.over_budget ? fmt::format("  OVER the {} budget for {:.2f}s", FormatBytes(*budget), a.time_over_budget_ms / 1e3)
                          : fmt::format("  within the {} budget", FormatBytes(*budget));
  return line + "\n";
}

}  // namespace

const VariantSpec* BaselineFor(const VariantSpec& variant, const std::vector<VariantSpec>& variants) {
  const VariantSpec* first = nullptr;
  for (const auto& v : variants) {
    if (!v.baseline || v.name == variant.name) continue;
    if (!first) first = &v;
    if (variant.builtin_server && v.builtin_server && WithoutOrder(v.name) == WithoutOrder(variant.name)) return &v;
  }
  return first;
}

int ReportExperiment(Experiment e, const ReportOptions& o) {
  std::vector<VariantSummary> summaries;
  for (const auto& v : e.variants) summaries.push_back(SummarizeVariant(v, RunsOf(e.runs, v.name)));
  // The sections every rendering shows, decided once on what the report will hold.
  nlohmann::json outline = ReportJson(e.meta, e.variants, summaries, {});
  outline["budget"] = {{"budget_bytes", o.memory_budget_bytes ? nlohmann::json(*o.memory_budget_bytes) : nullptr},
                       {"assume_rss_bytes", o.assume_rss_bytes ? nlohmann::json(*o.assume_rss_bytes) : nullptr}};
  const ReportSections sections = ChooseSections(outline);
  std::string text = RenderSummaryTable(summaries, sections);
  {
    std::vector<std::string> order;
    for (const auto& v : e.variants) order.push_back(v.name);
    text += HangOutputNotes(order, e.runs);
  }

  std::vector<Comparison> comparisons;
  ExperimentFindings experiment_findings;
  for (const auto& v : e.variants) {
    if (v.baseline) continue;
    const VariantSpec* base = BaselineFor(v, e.variants);
    if (!base) continue;
    comparisons.push_back(Compare(v.name, RunsOf(e.runs, v.name), base->name, RunsOf(e.runs, base->name),
                                  o.suite_stops, o.regression_ratio));
    const auto& c = comparisons.back();
    if (c.regression && c.p95_ratio && c.p95_ratio->bound == RatioEstimate::Bound::kLowerBound)
      experiment_findings.regressions.push_back(
          {v.name, fmt::format("p95 shutdown latency at least {:.2f}x the baseline {} (95% interval from {:.2f}x; "
                               "runs killed by the watchdog make the variant's p95 a lower bound), over {}x",
                               c.p95_ratio->ratio, c.baseline, c.p95_ratio->ci_low, o.regression_ratio)});
    else if (c.regression && c.p95_ratio)
      experiment_findings.regressions.push_back(
          {v.name, fmt::format("p95 shutdown latency {:.2f}x the baseline {} (95% interval {:.2f}-{:.2f}x), over {}x",
                               c.p95_ratio->ratio, c.baseline, c.p95_ratio->ci_low, c.p95_ratio->ci_high,
                               o.regression_ratio)});
  }
  if (!comparisons.empty()) {
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
    text += fmt::format("\nCompared with the baseline (latency ratios with 95% bootstrap intervals; a suite of {} stops):\n",
                        o.suite_stops);
    for (const auto& c : comparisons) {
      text += fmt::format("  {} vs {}{}\n", c.variant, c.baseline, c.regression ? "  REGRESSION" : "");
      text += fmt::format("    p50 {}   p95 {}   timeouts {:.0f}% vs {:.0f}%   suite shutdown {} vs {}\n",
                          ratio(c.p50_ratio), ratio(c.p95_ratio), c.timeout_rate * 100, c.baseline_timeout_rate * 100,
                          suite(c.suite_shutdown_seconds, c.suite_shutdown_lower_bound),
                          suite(c.baseline_suite_shutdown_seconds, c.baseline_suite_shutdown_lower_bound));
    }
  }

  // Memory: all runs together (what the runner held), and each variant's runs as a schedule of its own
  // (in open loop a variant is a block of its own, so that is its suite: with the tail and without it).
  std::optional<BudgetAnalysis> measured;
  std::optional<BudgetAnalysis> projected;
  nlohmann::json per_variant = nlohmann::json::array();
  if (o.analyse_budget) {
    auto over = [&](const BudgetAnalysis& m, const std::optional<BudgetAnalysis>& p) -> std::optional<std::string> {
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
    };
    std::string lines;
    bool any_variant_over = false;
    for (const auto& v : e.variants) {
      const auto timelines = TimelinesFromRuns(RunsOf(e.runs, v.name));
      if (timelines.empty()) continue;
      const BudgetAnalysis vm = AnalyzeBudget(timelines, o.memory_budget_bytes);
      std::optional<BudgetAnalysis> vp;
      if (o.assume_rss_bytes) vp = ProjectBudget(timelines, *o.assume_rss_bytes, o.memory_budget_bytes);
      per_variant.push_back({{"variant", v.name},
                             {"measured", vm.ToJson()},
                             {"projected", vp ? vp->ToJson() : nlohmann::json(nullptr)}});
      lines += fmt::format("  {}\n", v.name);
      lines += BudgetLine("measured", vm, o.memory_budget_bytes);
      if (vp) lines += BudgetLine(fmt::format("at {}", FormatBytes(*o.assume_rss_bytes)), *vp, o.memory_budget_bytes);
      if (auto why = over(vm, vp)) {
        experiment_findings.budgets.push_back({v.name, *why});
        any_variant_over = true;
      }
    }
    const auto timelines = TimelinesFromRuns(e.runs);
    if (!timelines.empty()) {
      measured = AnalyzeBudget(timelines, o.memory_budget_bytes);
      if (o.assume_rss_bytes) projected = ProjectBudget(timelines, *o.assume_rss_bytes, o.memory_budget_bytes);
      if (sections.memory) {
        text += "\nMemory held by live targets together (tails: the part held after the stop signal):\n";
        if (e.variants.size() > 1) {
          text += lines;
          text += "  all variants as run\n";
        }
        text += BudgetLine("measured", *measured, o.memory_budget_bytes);
        if (projected)
          text += BudgetLine(fmt::format("at {}", FormatBytes(*o.assume_rss_bytes)), *projected, o.memory_budget_bytes);
      }
      // Together only adds a finding when no variant alone explains it (closed loop mixes variants).
      if (!any_variant_over)
        if (auto why = over(*measured, projected)) experiment_findings.budgets.push_back({"", *why + " (all variants as run)"});
    }
  }
  std::vector<std::string> earlier_errors = o.earlier_errors;
  // stdout is buffered: a full disk (or /dev/full) shows only at the flush, and a lost table is a failure.
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (std::fflush(stdout) != 0 || std::ferror(stdout))  // the table before the verdict on stderr
    earlier_errors.push_back(fmt::format("writing the summary table to stdout: {}", std::strerror(errno)));

  const auto findings = CollectFindings(e.variants, e.runs, experiment_findings);
  const bool fails = Fails(findings, o.fail_on);
  int exit_code = e.meta.interrupted ? 130 : !earlier_errors.empty() ? 3 : fails ? 1 : 0;

  auto build_report = [&](int code) {
    e.meta.exit_code = code;
    nlohmann::json report = ReportJson(e.meta, e.variants, summaries, e.runs);
    report["budget"] = measured ? BudgetJson(o.memory_budget_bytes, o.assume_rss_bytes, *measured, projected)
                                : nlohmann::json(nullptr);
    if (measured) report["budget"]["variants"] = per_variant;
    nlohmann::json list = nlohmann::json::array();
    for (const auto& c : comparisons) list.push_back(c.ToJson());
    report["comparisons"] = comparisons.empty() ? nlohmann::json(nullptr) : list;
    report["gate"] = GateJson(o.fail_on, findings, code);
    return report;
  };
  std::vector<std::string> errors;
  auto write_all = [&](const nlohmann::json& report) {
    errors.clear();
    if (o.json)
      if (auto ok = WriteReportJson(*o.json, report); !ok) errors.push_back(ok.error().message);
    if (o.junit)
      if (auto ok = WriteFileAtomically(*o.junit, RenderJunit(report)); !ok) errors.push_back(ok.error().message);
    const std::string markdown = RenderMarkdown(report);
    if (o.markdown)
      if (auto ok = WriteFileAtomically(*o.markdown, markdown); !ok) errors.push_back(ok.error().message);
    if (auto ok = AppendGithubStepSummary(markdown); !ok) errors.push_back(ok.error().message);
  };
  write_all(build_report(exit_code));
  if (!errors.empty() && exit_code != 130) {
    exit_code = 3;
    write_all(build_report(exit_code));  // the files that can be written say how the run ended
  }
  if (GithubActions()) {
    std::fflush(stderr);
    if (!o.resume_commands_token.empty()) {
      fmt::print(stderr, "::{}::\n", o.resume_commands_token);
      fmt::print("::{}::\n", o.resume_commands_token);
      std::fflush(stdout);
    }
    fmt::print("{}", RenderGithubAnnotations(build_report(exit_code)));
  }
  std::fflush(stdout);

  for (const auto& err : earlier_errors) fmt::print(stderr, "coder diag: {}\n", err);
  for (const auto& err : errors) fmt::print(stderr, "coder diag: {}\n", err);
  std::vector<std::string> failing;
  for (const auto& f : findings)
    if (f.gated && o.fail_on.count(f.kind))
      failing.push_back(TerminalSafe(f.variant.empty() ? f.message : fmt::format("{}: {}", f.variant, f.message)));
  if (e.meta.interrupted) {
    fmt::print(stderr, "coder diag: interrupted; {} runs recorded\n", e.runs.size());
  } else if (!failing.empty()) {
    const size_t shown = std::min<size_t>(failing.size(), 5);
    fmt::print(stderr, "coder diag: {} gated findings, e.g.:\n  {}\n", failing.size(),
               fmt::join(failing.begin(), failing.begin() + static_cast<std::ptrdiff_t>(shown), "\n  "));
  } else {
    fmt::print(stderr, "coder diag: no findings in gated variants\n");
  }
  return exit_code;
}

}  // namespace coder::harness
