#include "harness/report/junit.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "harness/report/report.h"
#include "harness/report/report_sections.h"
#include "harness/report/report_view.h"

namespace coder::harness {
namespace {

using nlohmann::json;

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
  bool failed = false, errored = false;
  std::string failure_message, failure_type, failure_body;
  std::string system_out;
};

std::string Number(double v) { return fmt::format("{}", v); }

void AddNumber(std::vector<Property>& props, std::string name, const json& obj, std::string_view key) {
  if (auto v = NumberMember(obj, key)) props.push_back({std::move(name), Number(*v)});
}

void AddDistribution(std::vector<Property>& props, const json& summary, std::string_view distribution,
                     std::string_view prefix, std::string_view unit, std::initializer_list<std::string_view> stats) {
  const json* d = Member(summary, distribution);
  if (!d) return;
  for (std::string_view stat : stats) AddNumber(props, fmt::format("{}_{}_{}", prefix, stat, unit), *d, stat);
}

void AddCounts(std::vector<Property>& props, std::string_view prefix, const json* counts) {
  if (!counts || !counts->is_object()) return;
  for (const auto& [name, n] : counts->items())
    if (n.is_number() && n.get<double>() > 0)
      props.push_back({fmt::format("{}_{}", prefix, name), Number(n.get<double>())});
}

void AddRatio(std::vector<Property>& props, std::string_view name, const json& comparison) {
  const json* r = Member(comparison, name);
  if (!r) return;
  AddNumber(props, std::string(name), *r, "ratio");
  AddNumber(props, fmt::format("{}_ci_low", name), *r, "ci_low");
  AddNumber(props, fmt::format("{}_ci_high", name), *r, "ci_high");
  if (const std::string bound = StringMember(*r, "bound"); !bound.empty())
    props.push_back({fmt::format("{}_bound", name), bound});
}

const json* ComparisonOf(const json& report, const std::string& variant) {
  for (const json* c : ArrayMember(report, "comparisons"))
    if (StringMember(*c, "variant") == variant) return c;
  return nullptr;
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

std::string SummaryText(const VariantView& v) {
  const json* s = v.summary;
  if (!s) return "no summary recorded for this variant\n";
  std::string out =
      fmt::format("runs: {}, outcomes: {}\n", NumberMember(*s, "runs").value_or(0), OutcomeCountsText(*s));
  out += fmt::format("shutdown latency min {} p50 {} p95 {} p99 {} max {}\n", DistributionMs(s, "latency_ms", "min"),
                     DistributionMs(s, "latency_ms", "p50"), DistributionMs(s, "latency_ms", "p95"),
                     DistributionMs(s, "latency_ms", "p99"), DistributionMs(s, "latency_ms", "max"));
  if (const size_t censored = CensoredCount(s, "latency_ms"); censored > 0)
    out += fmt::format("(>= marks a lower bound: {} run{} killed by the watchdog would have stopped no sooner, if at all)\n",
                       censored, censored == 1 ? "" : "s");
  if (const std::string tail = FixedTailText(s); !tail.empty()) out += "fixed tail: " + tail + "\n";
  out += fmt::format("ready p50 {}, tree peak RSS p50 {} max {}\n", DistributionMs(s, "ready_ms", "p50"),
                     DistributionBytes(s, "tree_peak_rss_bytes", "p50"),
                     DistributionBytes(s, "tree_peak_rss_bytes", "max"));
  if (const json* step = Member(*s, "dominant_step"))
    if (auto ms = NumberMember(*step, "ms"))
      out += fmt::format("dominant shutdown step: {} ({} mean)\n", StringMember(*step, "name"), FormatMs(*ms));
  out += fmt::format("fingerprints: {}\n", CountsText(Member(*s, "fingerprints")));
  if (const json* slots = Member(*s, "held_slots"); slots && slots->is_object() && !slots->empty())
    out += fmt::format("held wait-group slots: {}\n", CountsText(slots));
  return out;
}

TestCase VariantCase(const json& report, const VariantView& v, const std::vector<ReportFinding>& findings,
                     double latency_seconds) {
  TestCase tc{.name = v.name, .seconds = latency_seconds};

  tc.properties.push_back({"gated", v.gated ? "true" : "false"});
  tc.properties.push_back({"baseline", v.baseline ? "true" : "false"});
  if (const json* s = v.summary) {
    AddNumber(tc.properties, "runs", *s, "runs");
    AddNumber(tc.properties, "findings", *s, "findings");
    AddDistribution(tc.properties, *s, "latency_ms", "latency", "ms", {"min", "p50", "p95", "p99", "max", "mean"});
    // A censored latency's statistics are lower bounds: say which, so a numeric property is never read as exact.
    if (const size_t censored = CensoredCount(s, "latency_ms"); censored > 0) {
      tc.properties.push_back({"latency_censored", std::to_string(censored)});
      std::string bounds;
      if (const json* d = Member(*s, "latency_ms"))
        for (const json* b : ArrayMember(*d, "lower_bounds"))
          if (b->is_string()) bounds += (bounds.empty() ? "" : ",") + b->get<std::string>();
      tc.properties.push_back({"latency_lower_bounds", bounds});
    }
    if (const json* tail = Member(*s, "fixed_tail")) AddNumber(tc.properties, "fixed_tail_ms", *tail, "ms");
    AddDistribution(tc.properties, *s, "ready_ms", "ready", "ms", {"p50", "max"});
    AddDistribution(tc.properties, *s, "tree_peak_rss_bytes", "tree_peak_rss", "bytes", {"p50", "max"});
    AddDistribution(tc.properties, *s, "kernel_peak_rss_bytes", "kernel_peak_rss", "bytes", {"p50", "max"});
    if (const json* step = Member(*s, "dominant_step")) {
      tc.properties.push_back({"dominant_step", StringMember(*step, "name")});
      AddNumber(tc.properties, "dominant_step_ms", *step, "ms");
    }
    AddCounts(tc.properties, "outcome", Member(*s, "outcomes"));
    AddCounts(tc.properties, "fingerprint", Member(*s, "fingerprints"));
    AddCounts(tc.properties, "held_slot", Member(*s, "held_slots"));
  }
  if (const json* c = ComparisonOf(report, v.name)) {
    tc.properties.push_back({"compared_with", StringMember(*c, "baseline")});
    AddRatio(tc.properties, "p50_ratio", *c);
    AddRatio(tc.properties, "p95_ratio", *c);
    AddNumber(tc.properties, "timeout_rate", *c, "timeout_rate");
    AddNumber(tc.properties, "baseline_timeout_rate", *c, "baseline_timeout_rate");
    AddNumber(tc.properties, "peak_rss_ratio", *c, "peak_rss_ratio");
    AddNumber(tc.properties, "suite_stops", *c, "suite_stops");
    AddNumber(tc.properties, "suite_shutdown_seconds", *c, "suite_shutdown_seconds");
    AddNumber(tc.properties, "baseline_suite_shutdown_seconds", *c, "baseline_suite_shutdown_seconds");
    for (std::string_view key : {"suite_shutdown_lower_bound", "baseline_suite_shutdown_lower_bound"})
      if (BoolMember(*c, key)) tc.properties.push_back({std::string(key), "true"});
    tc.properties.push_back({"regression", BoolMember(*c, "regression") ? "true" : "false"});
  }

  std::vector<const ReportFinding*> failing, reported;
  std::set<int> failing_runs;
  for (const ReportFinding& f : findings) {
    // Budget findings, a variant's own included, all go to the budget case: one place for memory.
    if (f.variant != v.name || f.kind == "budget") continue;
    (f.fails ? failing : reported).push_back(&f);
    if (f.fails && f.run) failing_runs.insert(*f.run);
  }
  if (!failing.empty()) {
    tc.failed = true;
    tc.failure_type = Kinds(failing);
    const double runs = v.summary ? NumberMember(*v.summary, "runs").value_or(0) : 0;
    std::string message = fmt::format("{} gated finding{}", failing.size(), failing.size() == 1 ? "" : "s");
    if (!failing_runs.empty()) message += fmt::format(" in {} of {} runs", failing_runs.size(), runs);
    if (v.summary)
      message += fmt::format(" (outcomes: {}; fingerprints: {})", OutcomeCountsText(*v.summary),
                             CountsText(Member(*v.summary, "fingerprints")));
    for (const ReportFinding* f : failing)
      if (!f->run) message += "; " + f->message;
    tc.failure_message = message;
    tc.failure_body = FindingLines(failing);
  }
  if (v.baseline || !v.gated) {
    tc.system_out = fmt::format("{} variant: reported, never gated ({} finding{}).\n",
                                v.baseline ? "baseline" : "ungated", reported.size(), reported.size() == 1 ? "" : "s");
  }
  tc.system_out += SummaryText(v);
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
  for (const ProcessStacks& stacks : run->stacks) {
    tc.system_out += fmt::format("\nstacks of process {} ({}, {:.0f} ms after launch){}:\n", stacks.pid, stacks.tool,
                                 stacks.at_ms, stacks.error.empty() ? "" : ": " + stacks.error);
    tc.system_out += stacks.text;
  }
  return tc;
}

std::string BudgetFigures(const json& analysis) {
  return fmt::format("peak {} at {:.2f}s (held by shutdown tails: {})", BytesMember(analysis, "peak_total_bytes"),
                     NumberMember(analysis, "peak_total_at_ms").value_or(0) / 1000,
                     BytesMember(analysis, "peak_tail_bytes"));
}

TestCase BudgetCase(const json& report, const std::vector<ReportFinding>& findings) {
  TestCase tc{.name = "budget"};
  const json empty = json::object();
  const json* budget = Member(report, "budget");
  if (!budget || !budget->is_object()) budget = &empty;
  const json* measured = Member(*budget, "measured");
  const json* projected = Member(*budget, "projected");
  const std::string limit = BytesMember(*budget, "budget_bytes");

  AddNumber(tc.properties, "budget_bytes", *budget, "budget_bytes");
  AddNumber(tc.properties, "assume_rss_bytes", *budget, "assume_rss_bytes");
  for (const auto& [prefix, a] : {std::pair{"measured", measured}, std::pair{"projected", projected}}) {
    if (!a) continue;
    for (std::string_view key :
         {"peak_total_bytes", "peak_total_at_ms", "peak_tail_bytes", "time_over_budget_ms", "mean_live",
          "arrival_rate_per_s", "mean_lifetime_ms", "mean_tail_ms", "tail_share", "window_ms"})
      AddNumber(tc.properties, fmt::format("{}_{}", prefix, key), *a, key);
    tc.properties.push_back({fmt::format("{}_over_budget", prefix), BoolMember(*a, "over_budget") ? "true" : "false"});
  }
  if (measured) tc.seconds = NumberMember(*measured, "window_ms").value_or(0) / 1000;

  std::string figures = Member(*budget, "variants") ? "all variants together: " : "";
  if (measured) figures += "measured " + BudgetFigures(*measured);
  if (projected)
    figures += fmt::format("{}projected with every target at {}: {}", figures.empty() ? "" : "; ",
                           BytesMember(*budget, "assume_rss_bytes"), BudgetFigures(*projected));
  figures += fmt::format("; budget {}", limit);

  std::vector<const ReportFinding*> failing, reported;
  for (const ReportFinding& f : findings)
    if (f.kind == "budget") (f.fails ? failing : reported).push_back(&f);
  auto over = [](const json* a) { return a && BoolMember(*a, "over_budget"); };
  // Each variant's runs as a schedule of their own, when the harness analysed them so.
  std::string per_variant;
  bool any_over = over(measured) || over(projected);
  for (const json* v : ArrayMember(*budget, "variants")) {
    const json* vm = Member(*v, "measured");
    const json* vp = Member(*v, "projected");
    any_over = any_over || over(vm) || over(vp);
    per_variant += StringMember(*v, "variant", "?") + ":";
    if (vm) per_variant += fmt::format(" measured {}{}", BudgetFigures(*vm), over(vm) ? ", OVER budget" : "");
    if (vp) per_variant += fmt::format("; projected {}{}", BudgetFigures(*vp), over(vp) ? ", OVER budget" : "");
    per_variant += "\n";
  }
  const bool has_gate = Member(report, "gate") != nullptr;
  if (has_gate ? !failing.empty() : any_over) {
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
  for (const auto& [label, a] : {std::pair{"measured", measured}, std::pair{"projected", projected}}) {
    if (!a) continue;
    tc.system_out += fmt::format(
        "{}: mean live targets {:.2f} = {:.2f} launches/s x {} mean lifetime (Little's law); mean tail {} ({:.0f}% of "
        "a lifetime); over budget for {}\n",
        label, NumberMember(*a, "mean_live").value_or(0), NumberMember(*a, "arrival_rate_per_s").value_or(0),
        FormatMs(NumberMember(*a, "mean_lifetime_ms").value_or(0)),
        FormatMs(NumberMember(*a, "mean_tail_ms").value_or(0)), NumberMember(*a, "tail_share").value_or(0) * 100,
        FormatMs(NumberMember(*a, "time_over_budget_ms").value_or(0)));
  }
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

std::string RenderJunit(const json& report) {
  const SplitReport split = SplitRuns(report);
  return RenderJunit(split.outline, split.runs);
}

std::string RenderJunit(const json& report, const RunSource& runs) {
  const std::vector<ReportFinding> findings = ReportFindings(report, runs);
  std::map<std::string, double> latency_seconds;
  (void)runs.ForEach([&](const RunRecord& r) -> Status {
    latency_seconds[r.variant] += r.latency_ms.value_or(0) / 1000;
    return Ok{};
  });
  std::vector<TestCase> cases;
  std::set<std::string> variant_names;
  for (const VariantView& v : ReportVariants(report)) {
    variant_names.insert(v.name);
    const size_t variant_case = cases.size();
    cases.push_back(VariantCase(report, v, findings, latency_seconds[v.name]));
    // One case per failing run, in run-index order, up to kMaxRunCases.
    std::map<int, std::vector<const ReportFinding*>> by_run;
    for (const ReportFinding& f : findings)
      if (f.fails && f.run && f.variant == v.name) by_run[*f.run].push_back(&f);
    size_t listed = 0;
    for (const auto& [index, failing] : by_run) {
      if (listed++ == kMaxRunCases) break;
      cases.push_back(RunCase(runs, v.name, index, failing));
    }
    if (by_run.size() > kMaxRunCases)
      cases[variant_case].system_out +=
          fmt::format("{} more failing runs have no case of their own: the JSON report has them all\n",
                      by_run.size() - kMaxRunCases);
  }
  const bool any_budget_finding =
      std::any_of(findings.begin(), findings.end(), [](const ReportFinding& f) { return f.kind == "budget"; });
  if ((Member(report, "budget") && ChooseSections(report).memory) || any_budget_finding)
    cases.push_back(BudgetCase(report, findings));

  // Findings about neither a listed variant nor the budget (a hand-edited gate): still shown, never lost.
  std::vector<const ReportFinding*> orphans;
  for (const ReportFinding& f : findings)
    if (f.kind != "budget" && !variant_names.count(f.variant)) orphans.push_back(&f);
  if (!orphans.empty()) {
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
    cases.push_back(std::move(tc));
  }

  const int exit_code = ReportExitCode(report);
  if (ReportInterrupted(report) || exit_code == 3) {
    TestCase tc{.name = "harness", .errored = true};
    tc.failure_type = ReportInterrupted(report) ? "interrupted" : "harness-failure";
    tc.failure_message =
        ReportInterrupted(report)
            ? fmt::format("interrupted: the report is partial ({} runs recorded)", runs.size())
            : "the harness itself failed (exit 3); its stderr says why";
    tc.failure_body = tc.failure_message + "\n";
    cases.push_back(std::move(tc));
  }

  size_t failures = 0, errors = 0;
  for (const TestCase& tc : cases) {
    failures += tc.failed && !tc.errored;
    errors += tc.errored;
  }
  const json empty = json::object();
  const json* meta = Member(report, "meta");
  if (!meta) meta = &empty;
  const std::string time = Seconds(NumberMember(*meta, "wall_seconds").value_or(0));
  const std::string counts = fmt::format("tests=\"{}\" failures=\"{}\" errors=\"{}\"", cases.size(), failures, errors);

  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format("<testsuites name=\"{}\" {} time=\"{}\">\n", kSuite, counts, time);
  std::string timestamp = JunitTimestamp(StringMember(*meta, "started_at"));
  out += fmt::format("  <testsuite name=\"{}\" {} skipped=\"0\" time=\"{}\"{}>\n", kSuite, counts, time,
                     timestamp.empty() ? "" : fmt::format(" timestamp=\"{}\"", XmlEscape(timestamp, true)));
  std::vector<Property> suite_props{{"schema", StringMember(report, "schema")},
                                    {"coder_version", StringMember(*meta, "coder_version")},
                                    {"started_at", StringMember(*meta, "started_at")},
                                    {"exit_code", std::to_string(exit_code)},
                                    {"interrupted", ReportInterrupted(report) ? "true" : "false"},
                                    {"verdict", ReportVerdict(report, runs)}};
  for (const json* note : ArrayMember(*meta, "notes"))
    if (note->is_string()) suite_props.push_back({"note", note->get<std::string>()});
  WriteProperties(out, suite_props, "    ");
  for (const TestCase& tc : cases) WriteCase(out, tc);
  out += "  </testsuite>\n</testsuites>\n";
  return out;
}

}  // namespace coder::harness
