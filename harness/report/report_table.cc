#include "harness/report/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "common/terminal_text.h"
#include "harness/report/report_sections.h"
#include "harness/report/text_table.h"
#include "harness/report/traffic_text.h"

namespace coder::harness {
namespace {

constexpr std::string_view kNone = "-";

double Stat(const Distribution& d, std::string_view stat) {
  if (stat == "min") return d.min;
  if (stat == "p50") return d.p50;
  if (stat == "p95") return d.p95;
  if (stat == "p99") return d.p99;
  if (stat == "max") return d.max;
  return d.mean;
}

// A statistic censored values reach is only a lower bound: ">= 30.005s".
std::string Ms(const Distribution& d, std::string_view stat) {
  if (d.n == 0) return std::string(kNone);
  return (d.IsLowerBound(stat) ? ">= " : "") + FormatMs(Stat(d, stat));
}
std::string Bytes(const Distribution& d, double Distribution::*stat) {
  return d.n == 0 ? std::string(kNone) : FormatBytes(static_cast<uint64_t>(d.*stat));
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out.empty() ? std::string(kNone) : out;
}

// Most severe first: the enum is declared in that order, and so the map iterates.
std::string OutcomeCounts(const std::map<Outcome, size_t>& outcomes) {
  std::vector<std::string> parts;
  for (const auto& [outcome, n] : outcomes)
    if (n > 0) parts.push_back(fmt::format("{} {}", n, ToString(outcome)));
  return Join(parts);
}

// Most frequent first, then by name: the order stays the same from one report to the next.
std::vector<std::pair<std::string, size_t>> ByCount(const std::map<std::string, size_t>& counts) {
  std::vector<std::pair<std::string, size_t>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return sorted;
}

std::string FingerprintCounts(const std::map<std::string, size_t>& fingerprints) {
  std::vector<std::string> parts;
  for (const auto& [name, n] : ByCount(fingerprints)) parts.push_back(fmt::format("{} {}", n, name));
  return Join(parts);
}

std::string Gate(const VariantSummary& s) { return s.baseline ? "baseline" : s.gated ? "gated" : "-"; }

std::string MainTable(const std::vector<VariantSummary>& summaries, const ReportSections& sections) {
  std::vector<TableColumn> columns{{"variant"},
                                   {"gate"},
                                   {"runs", true},
                                   {"outcomes"},
                                   {"min", true, "latency"},
                                   {"p50", true, "latency"},
                                   {"p95", true, "latency"},
                                   {"p99", true, "latency"},
                                   {"max", true, "latency"},
                                   {"p50", true, "ready"},
                                   {"p50", true, "peak RSS"},
                                   {"max", true, "peak RSS"}};
  if (sections.dominant_step) columns.push_back({"dominant step"});
  columns.push_back({"fingerprints"});
  TextTable table(std::move(columns));
  for (const VariantSummary& s : summaries) {
    const Distribution& lat = s.latency_ms;
    const Distribution& rss = s.tree_peak_rss_bytes;
    std::vector<std::string> row{s.variant,
                                 Gate(s),
                                 std::to_string(s.runs),
                                 OutcomeCounts(s.outcomes),
                                 Ms(lat, "min"),
                                 Ms(lat, "p50"),
                                 Ms(lat, "p95"),
                                 Ms(lat, "p99"),
                                 Ms(lat, "max"),
                                 Ms(s.ready_ms, "p50"),
                                 Bytes(rss, &Distribution::p50),
                                 Bytes(rss, &Distribution::max)};
    if (sections.dominant_step)
      row.push_back(s.dominant_step ? fmt::format("{} {}", s.dominant_step->name, FormatMs(s.dominant_step->ms))
                                    : std::string(kNone));
    row.push_back(FingerprintCounts(s.fingerprints));
    table.AddRow(std::move(row));
  }
  return table.Render();
}

std::string HeldSlots(const std::vector<VariantSummary>& summaries, const ReportSections& sections) {
  if (!sections.held_slots) return "";
  TextTable table({{"variant"}, {"findings"}, {"slots"}});
  bool any = false;
  for (const VariantSummary& s : summaries) {
    // "none named" says something only of a target whose timeout line would name them.
    if (s.findings == 0 || (s.held_slots.empty() && !s.builtin_server)) continue;
    any = true;
    std::vector<std::string> slots;
    for (const auto& [slot, n] : ByCount(s.held_slots))
      slots.push_back(fmt::format("{} ({} run{})", slot, n, n == 1 ? "" : "s"));
    table.AddRow({s.variant, fmt::format("{} of {} runs with findings", s.findings, s.runs),
                  slots.empty() ? "none named" : Join(slots)});
  }
  if (!any) return "";
  return "\nHeld wait-group slots, per variant with findings:\n" + table.Render("  ", false);
}

std::string Traffic(const std::vector<VariantSummary>& summaries) {
  std::vector<TableColumn> columns = {{"variant"}};
  for (std::string& h : TrafficHeader()) columns.push_back({std::move(h), true});
  columns.back().right_aligned = false;
  columns[columns.size() - 2].right_aligned = false;
  TextTable table(std::move(columns));
  bool any = false;
  for (const VariantSummary& s : summaries) {
    if (!s.traffic) continue;
    any = true;
    std::vector<std::string> row = {s.variant};
    for (std::string& cell : TrafficCells(*s.traffic)) row.push_back(std::move(cell));
    table.AddRow(std::move(row));
  }
  if (!any) return "";
  return "\nTraffic during the stop (requests the harness sent, each with one fate), per variant:\n" +
         table.Render("  ");
}

std::string FixedTails(const std::vector<VariantSummary>& summaries) {
  TextTable table({{"variant"}, {"fixed tail"}});
  for (const VariantSummary& s : summaries)
    if (s.fixed_tail) table.AddRow({s.variant, s.fixed_tail->Describe()});
  if (std::none_of(summaries.begin(), summaries.end(),
                   [](const VariantSummary& s) { return s.fixed_tail.has_value(); }))
    return "";
  return "\nFixed tails (stops clustered at one latency: the signature of a timeout):\n" + table.Render("  ", false);
}

// Says once what a ">=" in the table means, when one is there.
std::string CensoredNote(const std::vector<VariantSummary>& summaries) {
  size_t censored = 0;
  for (const VariantSummary& s : summaries) censored += s.latency_ms.censored;
  if (censored == 0) return "";
  return fmt::format(
      "\n>= marks a latency that is a lower bound: {} run{} killed by the watchdog would have "
      "stopped no sooner, if at all.\n",
      censored, censored == 1 ? "" : "s");
}

}  // namespace

std::string RenderSummaryTable(const std::vector<VariantSummary>& summaries) {
  return RenderSummaryTable(summaries, ChooseSections(SummariesDocument(summaries)));
}

std::string RenderSummaryTable(const std::vector<VariantSummary>& summaries, const ReportSections& sections) {
  return MainTable(summaries, sections) + CensoredNote(summaries) + FixedTails(summaries) + Traffic(summaries) +
         HeldSlots(summaries, sections);
}

std::string FormatRatio(double r) {
  // "1/8337x" far below the baseline: a decimal there would be all zeros.
  if (!(r >= 0) || !std::isfinite(r)) return "-";
  if (r >= 100) return fmt::format("{:.0f}x", r);
  if (r >= 10) return fmt::format("{:.1f}x", r);
  if (r >= 0.1) return fmt::format("{:.2f}x", r);
  if (r > 0) return fmt::format("1/{:.0f}x", 1 / r);
  return "0x";
}

}  // namespace coder::harness
