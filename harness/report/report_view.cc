#include "harness/report/report_view.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "harness/analysis/gate.h"
#include "harness/report/report.h"
#include "harness/analysis/run_record.h"
#include "harness/analysis/stats.h"

namespace coder::harness {
namespace {

using nlohmann::json;

constexpr std::string_view kNone = "-";

std::string Plural(size_t n, std::string_view word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); }

// Findings as CollectFindings makes them, for a report that has no gate.
std::vector<ReportFinding> DerivedFindings(const json& report, const RunSource& source) {
  std::vector<VariantSpec> specs;
  for (const VariantView& v : ReportVariants(report))
    specs.push_back(VariantSpec{.name = v.name, .gated = v.gated, .baseline = v.baseline});
  // Only a report without a gate (an older or hand-made one) gets here: it is small, and read whole.
  std::vector<RunRecord> runs;
  (void)source.ForEach([&](const RunRecord& r) -> Status {
    runs.push_back(r);
    return Ok{};
  });
  std::vector<ReportFinding> out;
  for (const Finding& f : CollectFindings(specs, runs, {}))
    out.push_back({f.variant, f.run, std::string(ToString(f.kind)), f.message, f.gated, f.gated});
  return out;
}

}  // namespace

const json* Member(const json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  const auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::string StringMember(const json& j, std::string_view key, std::string_view fallback) {
  const json* v = Member(j, key);
  return v && v->is_string() ? v->get<std::string>() : std::string(fallback);
}

std::optional<double> NumberMember(const json& j, std::string_view key) {
  const json* v = Member(j, key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

bool BoolMember(const json& j, std::string_view key, bool fallback) {
  const json* v = Member(j, key);
  return v && v->is_boolean() ? v->get<bool>() : fallback;
}

std::vector<const json*> ArrayMember(const json& j, std::string_view key) {
  std::vector<const json*> out;
  const json* v = Member(j, key);
  if (v && v->is_array())
    for (const json& e : *v) out.push_back(&e);
  return out;
}

std::vector<VariantView> ReportVariants(const json& report) {
  std::vector<VariantView> out;
  for (const json* v : ArrayMember(report, "variants")) {
    const json* spec = Member(*v, "spec");
    if (!spec || !Member(*spec, "name") || !(*spec)["name"].is_string()) continue;
    VariantView view{.name = StringMember(*spec, "name"),
                     .gated = BoolMember(*spec, "gated", true),
                     .baseline = BoolMember(*spec, "baseline", false)};
    const json* summary = Member(*v, "summary");
    view.summary = summary && summary->is_object() ? summary : nullptr;
    out.push_back(std::move(view));
  }
  return out;
}

SplitReport SplitRuns(const json& report) {
  SplitReport split{.outline = report, .runs = InMemoryRuns({})};
  std::vector<RunRecord> runs;
  if (split.outline.is_object())
    if (auto it = split.outline.find("runs"); it != split.outline.end()) {
      if (it->is_array())
        for (const json& r : *it)
          if (auto record = RunRecord::FromJson(r)) runs.push_back(std::move(*record));
      split.outline.erase(it);
    }
  split.runs = InMemoryRuns(std::move(runs));
  return split;
}

std::vector<ReportFinding> ReportFindings(const json& report, const RunSource& runs) {
  const json* gate = Member(report, "gate");
  if (!gate || !gate->is_object()) return DerivedFindings(report, runs);
  std::set<std::string> fail_on;
  for (const json* k : ArrayMember(*gate, "fail_on"))
    if (k->is_string()) fail_on.insert(k->get<std::string>());
  std::vector<ReportFinding> out;
  for (const json* f : ArrayMember(*gate, "findings")) {
    if (!f->is_object()) continue;
    ReportFinding finding{.variant = StringMember(*f, "variant"),
                          .kind = StringMember(*f, "kind", "finding"),
                          .message = StringMember(*f, "message"),
                          .gated = BoolMember(*f, "gated", true)};
    if (const json* run = Member(*f, "run"); run && run->is_number_integer()) finding.run = run->get<int>();
    finding.fails = finding.gated && fail_on.count(finding.kind) > 0;
    out.push_back(std::move(finding));
  }
  return out;
}

int ReportExitCode(const json& report) {
  const json* meta = Member(report, "meta");
  if (!meta) return 0;
  const json* code = Member(*meta, "exit_code");
  return code && code->is_number_integer() ? code->get<int>() : 0;
}

bool ReportInterrupted(const json& report) {
  const json* meta = Member(report, "meta");
  return meta && BoolMember(*meta, "interrupted");
}

std::string ReportVerdict(const json& report, const RunSource& runs) {
  const std::vector<ReportFinding> findings = ReportFindings(report, runs);
  // Failing findings per variant, in the order they were found; the budget's variant is "".
  std::vector<std::pair<std::string, size_t>> failing;
  size_t failing_total = 0, reported = 0;
  for (const ReportFinding& f : findings) {
    if (!f.fails) {
      ++reported;
      continue;
    }
    ++failing_total;
    auto it = std::find_if(failing.begin(), failing.end(), [&](const auto& p) { return p.first == f.variant; });
    if (it == failing.end())
      failing.emplace_back(f.variant, 1);
    else
      ++it->second;
  }
  std::string verdict;
  if (failing_total == 0) {
    verdict = "no findings in gated variants";
  } else {
    std::string where;
    for (const auto& [variant, n] : failing)
      where +=
          fmt::format("{}{} ({})", where.empty() ? "" : ", ", variant.empty() ? "all variants together" : variant, n);
    verdict = fmt::format("{} in {}", Plural(failing_total, "gated finding"), where);
  }
  if (reported > 0) verdict += fmt::format("; {} reported, not gated", Plural(reported, "finding"));
  const int exit_code = ReportExitCode(report);
  if (ReportInterrupted(report)) {
    verdict = fmt::format("interrupted, partial report ({} recorded): {}",
                          Plural(runs.size(), "run"), verdict);
  } else if (exit_code == 3) {
    verdict = "the harness failed (exit 3): " + verdict;
  }
  return verdict + fmt::format(" (exit {})", exit_code);
}

std::string OutcomeCountsText(const json& summary) {
  const json* outcomes = Member(summary, "outcomes");
  if (!outcomes || !outcomes->is_object()) return std::string(kNone);
  std::vector<std::string> parts;
  // Most severe first: the Outcome enum is declared in that order.
  std::set<std::string> known;
  for (int i = 0; i <= static_cast<int>(Outcome::kClean); ++i) {
    const std::string name(ToString(static_cast<Outcome>(i)));
    known.insert(name);
    if (auto n = NumberMember(*outcomes, name); n && *n > 0) parts.push_back(fmt::format("{} {}", *n, name));
  }
  // Outcomes a newer harness may add: after the known ones, by name.
  for (const auto& [name, n] : outcomes->items())
    if (!known.count(name) && n.is_number() && n.get<double>() > 0)
      parts.push_back(fmt::format("{} {}", n.get<double>(), name));
  if (parts.empty()) return std::string(kNone);
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

std::string CountsText(const json* counts) {
  if (!counts || !counts->is_object()) return std::string(kNone);
  std::vector<std::pair<double, std::string>> items;
  for (const auto& [name, n] : counts->items())
    if (n.is_number()) items.emplace_back(n.get<double>(), name);
  std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string out;
  for (const auto& [n, name] : items) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", n, name);
  return out.empty() ? std::string(kNone) : out;
}

std::string DistributionMs(const json* summary, std::string_view distribution, std::string_view stat,
                           std::string_view at_least) {
  if (!summary) return std::string(kNone);
  const json* d = Member(*summary, distribution);
  const auto v = d ? NumberMember(*d, stat) : std::nullopt;
  if (!v) return std::string(kNone);
  bool bound = false;
  for (const json* b : ArrayMember(*d, "lower_bounds")) bound = bound || (b->is_string() && b->get<std::string>() == stat);
  return (bound ? std::string(at_least) : std::string()) + FormatMs(*v);
}

size_t CensoredCount(const json* summary, std::string_view distribution) {
  const json* d = summary ? Member(*summary, distribution) : nullptr;
  const auto n = d ? NumberMember(*d, "censored") : std::nullopt;
  return n && *n > 0 ? static_cast<size_t>(*n) : 0;
}

std::string FixedTailText(const json* summary) {
  const json* t = summary ? Member(*summary, "fixed_tail") : nullptr;
  if (!t || !t->is_object()) return "";
  FixedTail tail;
  tail.ms = NumberMember(*t, "ms").value_or(0);
  tail.low_ms = NumberMember(*t, "low_ms").value_or(tail.ms);
  tail.high_ms = NumberMember(*t, "high_ms").value_or(tail.ms);
  tail.window_ms = NumberMember(*t, "window_ms").value_or(0);
  tail.runs = static_cast<size_t>(std::max(0.0, NumberMember(*t, "runs").value_or(0)));
  tail.of = static_cast<size_t>(std::max(0.0, NumberMember(*t, "of").value_or(0)));
  return tail.Describe();
}

std::string DistributionBytes(const json* summary, std::string_view distribution, std::string_view stat) {
  if (!summary) return std::string(kNone);
  const json* d = Member(*summary, distribution);
  const auto v = d ? NumberMember(*d, stat) : std::nullopt;
  return v && *v >= 0 ? FormatBytes(static_cast<uint64_t>(*v)) : std::string(kNone);
}

std::string BytesMember(const json& j, std::string_view key) {
  const auto v = NumberMember(j, key);
  return v && *v >= 0 ? FormatBytes(static_cast<uint64_t>(*v)) : std::string(kNone);
}

std::string FormatRatioEstimate(const json* estimate, std::string_view at_least, std::string_view at_most) {
  if (!estimate || !estimate->is_object()) return std::string(kNone);
  const auto ratio = NumberMember(*estimate, "ratio");
  if (!ratio) return std::string(kNone);
  const std::string bound = StringMember(*estimate, "bound", "estimate");
  if (bound == "indeterminate") return "? (both censored)";
  auto end = [&](std::string_view key) {
    const auto v = NumberMember(*estimate, key);
    return v ? FormatRatio(*v) : std::string("inf");
  };
  const std::string prefix(bound == "lower_bound" ? at_least : bound == "upper_bound" ? at_most : "");
  return fmt::format("{}{} ({}-{})", prefix, FormatRatio(*ratio), end("ci_low"), end("ci_high"));
}

}  // namespace coder::harness
