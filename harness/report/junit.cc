#include "harness/report/junit.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "harness/analysis/exit_codes.h"
#include "harness/analysis/hang_verdict.h"
#include "harness/report/report.h"
#include "harness/report/report_sections.h"
#include "harness/report/report_view.h"
#include "harness/report/traffic_text.h"

namespace coder::harness {
namespace {

constexpr std::string_view kSuite = "coder diag shutdown";
constexpr std::string_view kClass = "coder.diag.shutdown";
constexpr size_t kMaxMessageBytes = 1000;
constexpr size_t kMaxListedFindings = 200;

// Cuts at a code point boundary so the cut never makes invalid UTF-8.
std::string Truncate(std::string text, size_t max) {
  if (text.size() <= max) return text;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text + "...";
}

std::string Seconds(double s) { return fmt::format("{:.3f}", std::isfinite(s) && s > 0 ? s : 0.0); }

struct Property {
  std::string name, value;
};

/// One <testcase>: what it holds before it is written.
struct TestCase {
  std::string name;
  double seconds = 0;
  std::vector<Property> properties;
  bool failed = false, errored = false, skipped = false;
  std::string failure_message, failure_type, failure_body;
  std::string skipped_message;
  std::string system_out;
};

std::string Number(double v) { return fmt::format("{}", v); }

void AddNumber(std::vector<Property>& props, std::string name, double value) {
  // JSON has no infinity: a value the JSON report holds as null has no property either.
  if (std::isfinite(value)) props.push_back({std::move(name), Number(value)});
}

void AddDistribution(std::vector<Property>& props, const Distribution& d, std::string_view prefix,
                     std::string_view unit, std::initializer_list<std::string_view> stats) {
  for (std::string_view stat : stats)
    if (auto v = Statistic(d, stat)) AddNumber(props, fmt::format("{}_{}_{}", prefix, stat, unit), *v);
}

void AddCounts(std::vector<Property>& props, std::string_view prefix, const std::map<std::string, size_t>& counts) {
  for (const auto& [name, n] : counts)
    if (n > 0) props.push_back({fmt::format("{}_{}", prefix, name), Number(static_cast<double>(n))});
}

// By name, as the JSON report's `outcomes` object lists them.
std::map<std::string, size_t> OutcomesByName(const VariantSummary& s) {
  std::map<std::string, size_t> out;
  for (const auto& [outcome, n] : s.outcomes) out.emplace(ToString(outcome), n);
  return out;
}

void AddRatio(std::vector<Property>& props, std::string_view name, const std::optional<RatioEstimate>& r) {
  if (!r) return;
  AddNumber(props, std::string(name), r->ratio);
  AddNumber(props, fmt::format("{}_ci_low", name), r->ci_low);
  AddNumber(props, fmt::format("{}_ci_high", name), r->ci_high);
  props.push_back({fmt::format("{}_bound", name), std::string(ToString(r->bound))});
}

std::string Kinds(const std::vector<const ReportFinding*>& findings) {
  std::vector<std::string> kinds;
  for (const ReportFinding* f : findings)
    if (std::find(kinds.begin(), kinds.end(), f->kind) == kinds.end()) kinds.push_back(f->kind);
  std::string out;
  for (const std::string& k : kinds) out += (out.empty() ? "" : ",") + k;
  return out;
}

std::string FindingLine(const ReportFinding& f) {
  // A variant's budget finding is listed in the budget case, so it names its variant.
  const std::string kind = f.kind == "budget" && !f.variant.empty() ? fmt::format("budget ({})", f.variant) : f.kind;
  return fmt::format("{}{}: {}{}", f.run ? fmt::format("#{} ", *f.run) : "", kind, f.message,
                     f.fails   ? ""
                     : f.gated ? " (kind not in --fail-on)"
                               : " (baseline: not gated)");
}

std::string FindingLines(const std::vector<const ReportFinding*>& findings) {
  std::string out;
  for (size_t i = 0; i < findings.size() && i < kMaxListedFindings; ++i) out += FindingLine(*findings[i]) + "\n";
  if (findings.size() > kMaxListedFindings)
    out += fmt::format("... and {} more (see the JSON report)\n", findings.size() - kMaxListedFindings);
  return out;
}

std::string SummaryText(const VariantSummary* s) {
  if (!s) return "no summary recorded for this variant\n";
  std::string out = fmt::format("runs: {}, outcomes: {}\n", s->runs, OutcomeCountsText(*s));
  constexpr auto latency = &VariantSummary::latency_ms;
  out += fmt::format("shutdown latency min {} p50 {} p95 {} p99 {} max {}\n", DistributionMs(s, latency, "min"),
                     DistributionMs(s, latency, "p50"), DistributionMs(s, latency, "p95"),
                     DistributionMs(s, latency, "p99"), DistributionMs(s, latency, "max"));
  if (const size_t censored = s->latency_ms.censored; censored > 0)
    out += fmt::format(
        "(>= marks a lower bound: {} run{} killed by the watchdog would have stopped no sooner, if at all)\n", censored,
        censored == 1 ? "" : "s");
  if (const std::string tail = FixedTailText(s); !tail.empty()) out += "fixed tail: " + tail + "\n";
  out += fmt::format("ready p50 {}, tree peak RSS p50 {} max {}\n", DistributionMs(s, &VariantSummary::ready_ms, "p50"),
                     DistributionBytes(s, &VariantSummary::tree_peak_rss_bytes, "p50"),
                     DistributionBytes(s, &VariantSummary::tree_peak_rss_bytes, "max"));
  if (s->dominant_step)
    out +=
        fmt::format("dominant shutdown step: {} ({} mean)\n", s->dominant_step->name, FormatMs(s->dominant_step->ms));
  out += fmt::format("fingerprints: {}\n", CountsText(s->fingerprints));
  if (!s->held_slots.empty()) out += fmt::format("held wait-group slots: {}\n", CountsText(s->held_slots));
  if (s->traffic) out += "traffic: " + TrafficLine(*s->traffic) + "\n";
  return out;
}

void AddSummary(std::vector<Property>& props, const VariantSummary& s) {
  AddNumber(props, "runs", static_cast<double>(s.runs));
  AddNumber(props, "findings", static_cast<double>(s.findings));
  AddDistribution(props, s.latency_ms, "latency", "ms", {"min", "p50", "p95", "p99", "max", "mean"});
  // A censored latency's statistics are lower bounds: say which, so a numeric property is never read as exact.
  if (s.latency_ms.censored > 0) {
    props.push_back({"latency_censored", std::to_string(s.latency_ms.censored)});
    std::string bounds;
    for (const std::string& b : s.latency_ms.lower_bounds) bounds += (bounds.empty() ? "" : ",") + b;
    props.push_back({"latency_lower_bounds", bounds});
  }
  if (s.fixed_tail) AddNumber(props, "fixed_tail_ms", s.fixed_tail->ms);
  AddDistribution(props, s.ready_ms, "ready", "ms", {"p50", "max"});
  AddDistribution(props, s.tree_peak_rss_bytes, "tree_peak_rss", "bytes", {"p50", "max"});
  AddDistribution(props, s.kernel_peak_rss_bytes, "kernel_peak_rss", "bytes", {"p50", "max"});
  if (s.dominant_step) {
    props.push_back({"dominant_step", s.dominant_step->name});
    AddNumber(props, "dominant_step_ms", s.dominant_step->ms);
  }
  AddCounts(props, "outcome", OutcomesByName(s));
  AddCounts(props, "fingerprint", s.fingerprints);
  AddCounts(props, "held_slot", s.held_slots);
  if (s.traffic) {
    const RequestFates& r = s.traffic->requests;
    AddNumber(props, "traffic_answered", static_cast<double>(r.answered_before + r.answered_after));
    AddNumber(props, "traffic_answered_during_stop", static_cast<double>(r.answered_after));
    AddNumber(props, "traffic_refused", static_cast<double>(r.refused));
    AddNumber(props, "traffic_closed_before_read", static_cast<double>(r.closed_before_read));
    AddNumber(props, "traffic_dropped", static_cast<double>(r.dropped));
    AddNumber(props, "traffic_open", static_cast<double>(r.open_at_exit + r.open_at_watchdog));
    AddNumber(props, "traffic_errors", static_cast<double>(r.error));
    if (s.traffic->achieved_per_s_mean) AddNumber(props, "traffic_rate_per_s", *s.traffic->achieved_per_s_mean);
    AddNumber(props, "traffic_latency_before_p50_ms", s.traffic->latency_before_p50_ms);
    AddNumber(props, "traffic_latency_before_p99_ms", s.traffic->latency_before_p99_ms);
    AddNumber(props, "traffic_latency_during_p50_ms", s.traffic->latency_during_p50_ms);
    AddNumber(props, "traffic_latency_during_p99_ms", s.traffic->latency_during_p99_ms);
  }
}

void AddComparison(std::vector<Property>& props, const Comparison& c) {
  props.push_back({"compared_with", c.baseline});
  AddRatio(props, "p50_ratio", c.p50_ratio);
  AddRatio(props, "p95_ratio", c.p95_ratio);
  AddNumber(props, "timeout_rate", c.timeout_rate);
  AddNumber(props, "baseline_timeout_rate", c.baseline_timeout_rate);
  if (c.peak_rss_ratio) AddNumber(props, "peak_rss_ratio", *c.peak_rss_ratio);
  AddNumber(props, "suite_stops", c.suite_stops);
  AddNumber(props, "suite_shutdown_seconds", c.suite_shutdown_seconds);
  AddNumber(props, "baseline_suite_shutdown_seconds", c.baseline_suite_shutdown_seconds);
  if (c.suite_shutdown_lower_bound) props.push_back({"suite_shutdown_lower_bound", "true"});
  if (c.baseline_suite_shutdown_lower_bound) props.push_back({"baseline_suite_shutdown_lower_bound", "true"});
  props.push_back({"regression", c.regression ? "true" : "false"});
}

TestCase VariantCase(const ReportDocument& report, const ReportVariant& v, const std::vector<ReportFinding>& findings,
                     double latency_seconds) {
  const std::string& name = v.spec.name;
  const VariantSummary* summary = v.summary ? &*v.summary : nullptr;
  TestCase tc{.name = name, .seconds = latency_seconds};

  tc.properties.push_back({"gated", v.spec.gated ? "true" : "false"});
  tc.properties.push_back({"baseline", v.spec.baseline ? "true" : "false"});
  if (summary) AddSummary(tc.properties, *summary);
  if (const Comparison* c = ComparisonOf(report, name)) AddComparison(tc.properties, *c);

  std::vector<const ReportFinding*> failing, reported;
  std::set<int> failing_runs;
  for (const ReportFinding& f : findings) {
    // Budget findings, a variant's own included, all go to the budget case: one place for memory.
    if (f.variant != name || f.kind == "budget") continue;
    (f.fails ? failing : reported).push_back(&f);
    if (f.fails && f.run) failing_runs.insert(*f.run);
  }
  if (!failing.empty()) {
    tc.failed = true;
    tc.failure_type = Kinds(failing);
    const size_t runs = summary ? summary->runs : 0;
    std::string message = fmt::format("{} gated finding{}", failing.size(), failing.size() == 1 ? "" : "s");
    if (!failing_runs.empty()) message += fmt::format(" in {} of {} runs", failing_runs.size(), runs);
    if (summary)
      message += fmt::format(" (outcomes: {}; fingerprints: {})", OutcomeCountsText(*summary),
                             CountsText(summary->fingerprints));
    for (const ReportFinding* f : failing)
      if (!f->run) message += "; " + f->message;
    tc.failure_message = message;
    tc.failure_body = FindingLines(failing);
  }
  if (v.spec.baseline || !v.spec.gated) {
    tc.system_out =
        fmt::format("{} variant: reported, never gated ({} finding{}).\n", v.spec.baseline ? "baseline" : "ungated",
                    reported.size(), reported.size() == 1 ? "" : "s");
  }
  tc.system_out += SummaryText(summary);
  if (!reported.empty()) tc.system_out += "findings that do not fail the gate:\n" + FindingLines(reported);
  return tc;
}

void AddOptional(std::vector<Property>& props, std::string name, const std::optional<double>& value) {
  if (value) props.push_back({std::move(name), Number(*value)});
}

TestCase RunCase(const RunSource& runs, const std::string& variant, int index,
                 const std::vector<const ReportFinding*>& failing) {
  TestCase tc{.name = fmt::format("{} #{}", variant, index), .failed = true};
  tc.failure_type = Kinds(failing);
  tc.failure_body = FindingLines(failing);
  const auto run = runs.Find(variant, index);
  if (!run) {
    tc.failure_message = failing.front()->message;
    tc.system_out = "this run is not in the report's runs\n";
    return tc;
  }
  tc.seconds = run->latency_ms.value_or(0) / 1000;
  tc.failure_message = run->detail.empty() ? failing.front()->message : run->detail;
  tc.properties.push_back({"outcome", std::string(ToString(run->outcome))});
  AddOptional(tc.properties, "latency_ms", run->latency_ms);
  AddOptional(tc.properties, "ready_ms", run->ready_ms);
  AddOptional(tc.properties, "tree_peak_rss_bytes", static_cast<double>(run->tree_peak_rss_bytes));
  AddOptional(tc.properties, "kernel_peak_rss_bytes", static_cast<double>(run->kernel_peak_rss_bytes));
  if (!run->exit.empty()) tc.properties.push_back({"exit", run->exit});

  tc.system_out = fmt::format("last {} of {} lines of output:\n", run->log_tail.size(), run->log_lines);
  for (const std::string& line : run->log_tail) tc.system_out += line + "\n";
  if (run->hang) {
    tc.system_out += "\n";
    for (const std::string& line : WhereItHungLines(*run->hang, run->stacks)) tc.system_out += line + "\n";
  }
  for (const ProcessStacks& stacks : run->stacks) {
    tc.system_out += fmt::format("\nstacks of process {} ({}, {:.0f} ms after launch){}:\n", stacks.pid, stacks.tool,
                                 stacks.at_ms, stacks.error.empty() ? "" : ": " + stacks.error);
    tc.system_out += stacks.text;
  }
  return tc;
}

std::string BudgetFigures(const BudgetAnalysis& a) {
  return fmt::format("peak {} at {:.2f}s (held by shutdown tails: {})", FormatBytes(a.peak_total_bytes),
                     a.peak_total_at_ms / 1000, FormatBytes(a.peak_tail_bytes));
}

void AddBudgetAnalysis(std::vector<Property>& props, std::string_view prefix, const BudgetAnalysis& a) {
  const std::pair<std::string_view, double> figures[] = {{"peak_total_bytes", static_cast<double>(a.peak_total_bytes)},
                                                         {"peak_total_at_ms", a.peak_total_at_ms},
                                                         {"peak_tail_bytes", static_cast<double>(a.peak_tail_bytes)},
                                                         {"time_over_budget_ms", a.time_over_budget_ms},
                                                         {"mean_live", a.mean_live},
                                                         {"arrival_rate_per_s", a.arrival_rate_per_s},
                                                         {"mean_lifetime_ms", a.mean_lifetime_ms},
                                                         {"mean_tail_ms", a.mean_tail_ms},
                                                         {"tail_share", a.tail_share},
                                                         {"window_ms", a.window_ms}};
  for (const auto& [key, value] : figures) AddNumber(props, fmt::format("{}_{}", prefix, key), value);
  props.push_back({fmt::format("{}_over_budget", prefix), a.over_budget ? "true" : "false"});
}

bool IsOverBudget(const BudgetAnalysis* a) { return a && a->over_budget; }

// Each variant's runs as a schedule of their own, when the harness analysed them so; sets `any_over`
// when one of them is over the budget.
std::string PerVariantBudgetText(const ReportBudget& budget, bool& any_over) {
  std::string out;
  for (const VariantBudget& v : budget.variants) {
    const BudgetAnalysis* vp = v.projected ? &*v.projected : nullptr;
    any_over = any_over || IsOverBudget(&v.measured) || IsOverBudget(vp);
    out += v.variant + ":";
    out += fmt::format(" measured {}{}", BudgetFigures(v.measured), IsOverBudget(&v.measured) ? ", OVER budget" : "");
    if (vp) out += fmt::format("; projected {}{}", BudgetFigures(*vp), IsOverBudget(vp) ? ", OVER budget" : "");
    out += "\n";
  }
  return out;
}

std::string LittlesLawLine(const char* label, const BudgetAnalysis& a) {
  return fmt::format(
      "{}: mean live targets {:.2f} = {:.2f} launches/s x {} mean lifetime (Little's law); mean tail {} ({:.0f}% of "
      "a lifetime); over budget for {}\n",
      label, a.mean_live, a.arrival_rate_per_s, FormatMs(a.mean_lifetime_ms), FormatMs(a.mean_tail_ms),
      a.tail_share * 100, FormatMs(a.time_over_budget_ms));
}

// Without a `budget` (a budget finding in a hand-edited gate), the case has the findings and no figures.
TestCase BudgetCase(const ReportDocument& report, const std::vector<ReportFinding>& findings) {
  TestCase tc{.name = "budget"};
  const ReportBudget* budget = report.budget ? &*report.budget : nullptr;
  const BudgetAnalysis* measured = budget ? &budget->measured : nullptr;
  const BudgetAnalysis* projected = budget && budget->projected ? &*budget->projected : nullptr;
  const std::string limit = BytesOrNone(budget ? budget->budget_bytes : std::nullopt);
  const std::string assume = BytesOrNone(budget ? budget->assume_rss_bytes : std::nullopt);

  if (budget && budget->budget_bytes)
    AddNumber(tc.properties, "budget_bytes", static_cast<double>(*budget->budget_bytes));
  if (budget && budget->assume_rss_bytes)
    AddNumber(tc.properties, "assume_rss_bytes", static_cast<double>(*budget->assume_rss_bytes));
  const std::pair<const char*, const BudgetAnalysis*> analyses[] = {{"measured", measured}, {"projected", projected}};
  for (const auto& [prefix, a] : analyses)
    if (a) AddBudgetAnalysis(tc.properties, prefix, *a);
  if (measured) tc.seconds = measured->window_ms / 1000;

  std::string figures = budget && !budget->variants.empty() ? "all variants together: " : "";
  if (measured) figures += "measured " + BudgetFigures(*measured);
  if (projected)
    figures += fmt::format("{}projected with every target at {}: {}", figures.empty() ? "" : "; ", assume,
                           BudgetFigures(*projected));
  figures += fmt::format("; budget {}", limit);

  std::vector<const ReportFinding*> failing, reported;
  for (const ReportFinding& f : findings)
    if (f.kind == "budget") (f.fails ? failing : reported).push_back(&f);
  bool any_over = IsOverBudget(measured) || IsOverBudget(projected);
  const std::string per_variant = budget ? PerVariantBudgetText(*budget, any_over) : std::string();
  if (report.gate ? !failing.empty() : any_over) {
    tc.failed = true;
    tc.failure_type = "budget";
    std::string why;
    for (const ReportFinding* f : failing)
      why += fmt::format("{}{}{}", why.empty() ? "" : "; ", f->variant.empty() ? "" : f->variant + ": ", f->message);
    tc.failure_message = (why.empty() ? std::string("over the memory budget") : why) + " (" + figures + ")";
    tc.failure_body = FindingLines(failing);
  }
  tc.system_out = figures + "\n" + per_variant;
  tc.system_out +=
      "measured: the summed sampled RSS of the real targets; projected: the same launch schedule with every target "
      "at --assume-rss for its whole life (not measured).\n";
  for (const auto& [label, a] : analyses)
    if (a) tc.system_out += LittlesLawLine(label, *a);
  if (!reported.empty()) tc.system_out += FindingLines(reported);
  return tc;
}

void WriteProperties(std::string& out, const std::vector<Property>& props, std::string_view indent) {
  if (props.empty()) return;
  out += fmt::format("{}<properties>\n", indent);
  for (const Property& p : props)
    out += fmt::format("{}  <property name=\"{}\" value=\"{}\"/>\n", indent, XmlEscape(p.name, true),
                       XmlEscape(p.value, true));
  out += fmt::format("{}</properties>\n", indent);
}

void WriteCase(std::string& out, const TestCase& tc) {
  out += fmt::format("    <testcase classname=\"{}\" name=\"{}\" time=\"{}\">\n", kClass, XmlEscape(tc.name, true),
                     Seconds(tc.seconds));
  WriteProperties(out, tc.properties, "      ");
  if (tc.failed || tc.errored) {
    out +=
        fmt::format("      <{} message=\"{}\" type=\"{}\">{}</{}>\n", tc.errored ? "error" : "failure",
                    XmlEscape(Truncate(tc.failure_message, kMaxMessageBytes), true), XmlEscape(tc.failure_type, true),
                    XmlEscape(tc.failure_body, false), tc.errored ? "error" : "failure");
  }
  if (tc.skipped)
    out += fmt::format("      <skipped message=\"{}\"/>\n",
                       XmlEscape(Truncate(tc.skipped_message, kMaxMessageBytes), true));
  if (!tc.system_out.empty())
    out += fmt::format("      <system-out>{}</system-out>\n", XmlEscape(tc.system_out, false));
  out += "    </testcase>\n";
}

// "2026-11-24T04:19:37.265Z" -> "2026-11-24T04:19:37": the JUnit schema's timestamp has no zone or fraction.
std::string JunitTimestamp(const std::string& rfc3339) {
  if (rfc3339.size() < 19 || rfc3339[10] != 'T') return "";
  if (rfc3339[4] != '-' || rfc3339[7] != '-' || rfc3339[13] != ':' || rfc3339[16] != ':') return "";
  return rfc3339.substr(0, 19);
}

}  // namespace

std::string XmlEscape(std::string_view text, bool attribute) {
  const std::string valid = ValidUtf8(text);
  std::string out;
  out.reserve(valid.size());
  for (size_t i = 0; i < valid.size(); ++i) {
    const char c = valid[i];
    switch (c) {
      case '&': out += "&amp;"; continue;
      case '<': out += "&lt;"; continue;
      case '>': out += "&gt;"; continue;  // also keeps "]]>" out of character data
      case '"': out += attribute ? "&quot;" : "\""; continue;
      case '\r': out += "&#13;"; continue;  // a raw CR would be normalised away by the parser
      case '\n': out += attribute ? "&#10;" : "\n"; continue;
      case '\t': out += attribute ? "&#9;" : "\t"; continue;
      default: break;
    }
    if (static_cast<unsigned char>(c) < 0x20) {
      out += "\xEF\xBF\xBD";  // XML 1.0 has no way to write other control characters, not even escaped
      continue;
    }
    // U+FFFE and U+FFFF are not XML characters either (EF BF BE, EF BF BF in valid UTF-8).
    if (c == '\xEF' && i + 2 < valid.size() && valid[i + 1] == '\xBF' &&
        (valid[i + 2] == '\xBE' || valid[i + 2] == '\xBF')) {
      out += "\xEF\xBF\xBD";
      i += 2;
      continue;
    }
    out += c;
  }
  return out;
}

namespace {

/// One case per variant, then one per failing run of it (in run-index order, up to kMaxRunCases).
void AddVariantCases(const ReportDocument& report, const RunSource& runs, const std::vector<ReportFinding>& findings,
                     std::vector<TestCase>& cases) {
  std::map<std::string, double> latency_seconds;
  (void)runs.ForEach([&](const RunRecord& r) -> Status {
    latency_seconds[r.variant] += r.latency_ms.value_or(0) / 1000;
    return Ok{};
  });
  for (const ReportVariant& v : report.variants) {
    const std::string& name = v.spec.name;
    const size_t variant_case = cases.size();
    cases.push_back(VariantCase(report, v, findings, latency_seconds[name]));
    std::map<int, std::vector<const ReportFinding*>> by_run;
    for (const ReportFinding& f : findings)
      if (f.fails && f.run && f.variant == name) by_run[*f.run].push_back(&f);
    size_t listed = 0;
    for (const auto& [index, failing] : by_run) {
      if (listed++ == kMaxRunCases) break;
      cases.push_back(RunCase(runs, name, index, failing));
    }
    if (by_run.size() > kMaxRunCases)
      cases[variant_case].system_out +=
          fmt::format("{} more failing runs have no case of their own: the JSON report has them all\n",
                      by_run.size() - kMaxRunCases);
  }
}

/// Findings about neither a listed variant nor the budget (a hand-edited gate): still shown, never lost.
std::optional<TestCase> OrphanFindingsCase(const ReportDocument& report, const std::vector<ReportFinding>& findings) {
  std::set<std::string> variant_names;
  for (const ReportVariant& v : report.variants) variant_names.insert(v.spec.name);
  std::vector<const ReportFinding*> orphans;
  for (const ReportFinding& f : findings)
    if (f.kind != "budget" && !variant_names.count(f.variant)) orphans.push_back(&f);
  if (orphans.empty()) return std::nullopt;
  std::vector<const ReportFinding*> failing;
  for (const ReportFinding* f : orphans)
    if (f->fails) failing.push_back(f);
  TestCase tc{.name = "experiment", .system_out = FindingLines(orphans)};
  if (!failing.empty()) {
    tc.failed = true;
    tc.failure_type = Kinds(failing);
    tc.failure_message = failing.front()->message;
    tc.failure_body = FindingLines(failing);
  }
  return tc;
}

/// An errored case when the run did not measure what it was asked to: interrupted, or the harness failed.
std::optional<TestCase> HarnessCase(const ReportMeta& meta, size_t recorded_runs) {
  if (!meta.interrupted && meta.exit_code != kDiagHarnessFailed) return std::nullopt;
  TestCase tc{.name = "harness", .errored = true};
  tc.failure_type = meta.interrupted ? "interrupted" : "harness-failure";
  tc.failure_message = meta.interrupted
                           ? fmt::format("interrupted: the report is partial ({} runs recorded)", recorded_runs)
                           : "the harness itself failed (exit 3); its stderr says why";
  tc.failure_body = tc.failure_message + "\n";
  return tc;
}

// The fleet's verdict, not this job's: a case mirrors it (passed stopped, failed still recurring, skipped
// while the evidence is short) and the exit code stays this job's gate (docs/history.md).
std::vector<TestCase> HistoryCases(const ReportHistory& history) {
  std::vector<TestCase> cases;
  for (const HistoryVerdict& v : history.verdicts) {
    TestCase tc{.name = fmt::format("history: {} {} in {} since {}", v.selector, v.name, v.variant, v.since)};
    const RecurrenceCheck& c = v.check;
    tc.properties = {{"history", history.location},
                     {"verdict", std::string(ToString(c.verdict))},
                     {"since_at", v.since_at},
                     {"before_hits", std::to_string(c.before.hits)},
                     {"before_runs", std::to_string(c.before.runs)},
                     {"since_hits", std::to_string(c.since.hits)},
                     {"since_runs", std::to_string(c.since.runs)},
                     {"p_value", Number(c.p_value)}};
    if (c.more_clean_runs) tc.properties.push_back({"more_clean_runs", std::to_string(*c.more_clean_runs)});
    tc.system_out = v.sentence + "\n";
    if (c.verdict == RecurrenceVerdict::kStillRecurring) {
      tc.failed = true;
      tc.failure_type = "still-recurring";
      tc.failure_message = v.sentence;
      tc.failure_body = v.sentence + "\n";
    } else if (c.verdict == RecurrenceVerdict::kNotEnoughEvidence) {
      tc.skipped = true;
      tc.skipped_message = v.sentence;
    }
    cases.push_back(std::move(tc));
  }
  return cases;
}

/// The document around the cases: the suite's counts, time, timestamp and properties.
std::string WriteSuite(const ReportDocument& report, const RunSource& runs, const std::vector<TestCase>& cases) {
  const ReportMeta& meta = report.meta;
  size_t failures = 0, errors = 0, skipped = 0;
  for (const TestCase& tc : cases) {
    failures += tc.failed && !tc.errored;
    errors += tc.errored;
    skipped += tc.skipped;
  }
  const std::string time = Seconds(meta.wall_seconds);
  const std::string counts = fmt::format("tests=\"{}\" failures=\"{}\" errors=\"{}\"", cases.size(), failures, errors);

  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format("<testsuites name=\"{}\" {} time=\"{}\">\n", kSuite, counts, time);
  std::string timestamp = JunitTimestamp(meta.started_at);
  out += fmt::format("  <testsuite name=\"{}\" {} skipped=\"{}\" time=\"{}\"{}>\n", kSuite, counts, skipped, time,
                     timestamp.empty() ? "" : fmt::format(" timestamp=\"{}\"", XmlEscape(timestamp, true)));
  std::vector<Property> suite_props{{"schema", meta.schema},
                                    {"coder_version", meta.coder_version},
                                    {"started_at", meta.started_at},
                                    {"exit_code", std::to_string(meta.exit_code)},
                                    {"interrupted", meta.interrupted ? "true" : "false"},
                                    {"verdict", ReportVerdict(report, runs)}};
  for (const std::string& note : meta.notes) suite_props.push_back({"note", note});
  WriteProperties(out, suite_props, "    ");
  for (const TestCase& tc : cases) WriteCase(out, tc);
  out += "  </testsuite>\n</testsuites>\n";
  return out;
}

}  // namespace

std::string RenderJunit(const ReportDocument& report, const RunSource& runs) {
  const std::vector<ReportFinding> findings = ReportFindings(report, runs);
  std::vector<TestCase> cases;
  AddVariantCases(report, runs, findings, cases);
  const bool any_budget_finding =
      std::any_of(findings.begin(), findings.end(), [](const ReportFinding& f) { return f.kind == "budget"; });
  if ((report.budget && ChooseSections(report).memory) || any_budget_finding)
    cases.push_back(BudgetCase(report, findings));
  if (auto orphans = OrphanFindingsCase(report, findings)) cases.push_back(std::move(*orphans));
  if (report.history)
    for (TestCase& tc : HistoryCases(*report.history)) cases.push_back(std::move(tc));
  if (auto harness = HarnessCase(report.meta, runs.size())) cases.push_back(std::move(*harness));
  return WriteSuite(report, runs, cases);
}

}  // namespace coder::harness
