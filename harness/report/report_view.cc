#include "harness/report/report_view.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "harness/analysis/exit_codes.h"
#include "harness/analysis/gate.h"
#include "harness/analysis/run_record.h"
#include "harness/analysis/stats.h"
#include "harness/report/report.h"

namespace coder::harness {
namespace {

using nlohmann::json;

constexpr std::string_view kNone = "-";

std::string Plural(size_t n, std::string_view word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); }

// Findings as CollectFindings makes them, for a report that has no gate.
std::vector<ReportFinding> DerivedFindings(const ReportDocument& report, const RunSource& source) {
  std::vector<VariantSpec> specs;
  for (const ReportVariant& v : report.variants)
    specs.push_back(VariantSpec{.name = v.spec.name, .gated = v.spec.gated, .baseline = v.spec.baseline});
  // Only a report without a gate (a merged one before its gate is recomputed) gets here: it is read
  // whole anyway.
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

std::string Joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

}  // namespace

std::vector<ReportFinding> ReportFindings(const ReportDocument& report, const RunSource& runs) {
  if (!report.gate) return DerivedFindings(report, runs);
  std::vector<ReportFinding> out;
  for (const Finding& f : report.gate->findings)
    out.push_back({.variant = f.variant,
                   .run = f.run,
                   .kind = std::string(ToString(f.kind)),
                   .message = f.message,
                   .gated = f.gated,
                   .fails = f.gated && report.gate->fail_on.count(f.kind) > 0});
  return out;
}

Result<ReadReport> ReadWholeReport(const json& report) {
  auto document = ReadReportDocument(report);
  if (!document) return document.error();
  auto runs = ReadReportRuns(report);
  if (!runs) return runs.error();
  return ReadReport{std::move(*document), InMemoryRuns(std::move(*runs))};
}

std::string ReportVerdict(const ReportDocument& report, const RunSource& runs) {
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
    if (it == failing.end()) failing.emplace_back(f.variant, 1);
    else ++it->second;
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
  const int exit_code = report.meta.exit_code;
  if (report.meta.interrupted) {
    verdict = fmt::format("interrupted, partial report ({} recorded): {}", Plural(runs.size(), "run"), verdict);
  } else if (exit_code == kDiagHarnessFailed) {
    verdict = fmt::format("the harness failed (exit {}): {}", kDiagHarnessFailed, verdict);
  }
  return verdict + fmt::format(" (exit {})", exit_code);
}

std::string OutcomeCountsText(const VariantSummary& summary) {
  std::vector<std::string> parts;
  // Most severe first: the Outcome enum is declared in that order.
  for (int i = 0; i <= static_cast<int>(Outcome::kClean); ++i) {
    const auto o = static_cast<Outcome>(i);
    if (auto it = summary.outcomes.find(o); it != summary.outcomes.end() && it->second > 0)
      parts.push_back(fmt::format("{} {}", it->second, ToString(o)));
  }
  return parts.empty() ? std::string(kNone) : Joined(parts);
}

std::string CountsText(const std::map<std::string, size_t>& counts) {
  std::vector<std::pair<size_t, std::string>> items;
  for (const auto& [name, n] : counts) items.emplace_back(n, name);
  std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string out;
  for (const auto& [n, name] : items) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", n, name);
  return out.empty() ? std::string(kNone) : out;
}

std::optional<double> Statistic(const Distribution& d, std::string_view stat) {
  if (d.n == 0) return std::nullopt;
  if (stat == "min") return d.min;
  if (stat == "p50") return d.p50;
  if (stat == "p95") return d.p95;
  if (stat == "p99") return d.p99;
  if (stat == "max") return d.max;
  if (stat == "mean") return d.mean;
  return std::nullopt;
}

std::string DistributionMs(const VariantSummary* summary, const Distribution VariantSummary::*distribution,
                           std::string_view stat, std::string_view at_least) {
  if (!summary) return std::string(kNone);
  const Distribution& d = summary->*distribution;
  const auto v = Statistic(d, stat);
  if (!v) return std::string(kNone);
  return (d.IsLowerBound(stat) ? std::string(at_least) : std::string()) + FormatMs(*v);
}

std::string DistributionBytes(const VariantSummary* summary, const Distribution VariantSummary::*distribution,
                              std::string_view stat) {
  if (!summary) return std::string(kNone);
  const auto v = Statistic(summary->*distribution, stat);
  return v && *v >= 0 ? FormatBytes(static_cast<uint64_t>(*v)) : std::string(kNone);
}

std::string FixedTailText(const VariantSummary* summary) {
  return summary && summary->fixed_tail ? summary->fixed_tail->Describe() : "";
}

std::string BytesOrNone(std::optional<uint64_t> bytes) { return bytes ? FormatBytes(*bytes) : std::string(kNone); }

std::string FormatRatioEstimate(const std::optional<RatioEstimate>& estimate, std::string_view at_least,
                                std::string_view at_most) {
  if (!estimate || !std::isfinite(estimate->ratio)) return std::string(kNone);
  using Bound = RatioEstimate::Bound;
  if (estimate->bound == Bound::kIndeterminate) return "? (both censored)";
  auto end = [](double v) { return std::isfinite(v) ? FormatRatio(v) : std::string("inf"); };
  const std::string prefix(estimate->bound == Bound::kLowerBound   ? at_least
                           : estimate->bound == Bound::kUpperBound ? at_most
                                                                   : "");
  return fmt::format("{}{} ({}-{})", prefix, FormatRatio(estimate->ratio), end(estimate->ci_low),
                     end(estimate->ci_high));
}

const Comparison* ComparisonOf(const ReportDocument& report, std::string_view variant) {
  if (!report.comparisons) return nullptr;
  for (const Comparison& c : *report.comparisons)
    if (c.variant == variant) return &c;
  return nullptr;
}

}  // namespace coder::harness
