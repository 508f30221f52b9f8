#include "harness/report/markdown.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "common/terminal_text.h"
#include "harness/analysis/exit_codes.h"
#include "harness/analysis/hang_verdict.h"
#include "harness/analysis/run_output.h"
#include "harness/report/report.h"
#include "harness/report/report_sections.h"
#include "harness/report/report_view.h"
#include "harness/report/traffic_text.h"

namespace coder::harness {
namespace {

constexpr size_t kMaxFindingRows = 50;
constexpr std::string_view kAtLeast = "≥ ";
constexpr size_t kHangLines = 10;

using Row = std::vector<std::string>;

/// A GFM table; `align` holds one of "l"/"r" per column. Cells must already be escaped.
std::string Table(const Row& header, std::string_view align, const std::vector<Row>& rows) {
  auto line = [](const Row& cells) {
    std::string out = "|";
    for (const std::string& c : cells) out += " " + c + " |";
    return out + "\n";
  };
  std::string out = line(header) + "|";
  for (size_t i = 0; i < header.size(); ++i) out += i < align.size() && align[i] == 'r' ? " --: |" : " --- |";
  out += "\n";
  for (const Row& r : rows) out += line(r);
  return out;
}

std::string E(std::string_view text) { return MarkdownEscape(text); }

std::string Percent(std::optional<double> share) { return share ? fmt::format("{:.0f}%", *share * 100) : "-"; }

std::string Verdict(const ReportDocument& report, const RunSource& runs, const std::vector<ReportFinding>& findings) {
  const bool fails = std::any_of(findings.begin(), findings.end(), [](const ReportFinding& f) { return f.fails; });
  const int exit_code = report.meta.exit_code;
  const char* icon = report.meta.interrupted || exit_code == kDiagHarnessFailed ? "⚠️"
                     : fails || exit_code == kDiagFindings                      ? "❌"
                                                                                : "✅";
  return fmt::format("{} **{}**\n", icon, E(ReportVerdict(report, runs)));
}

std::string MetaLine(const ReportMeta& meta, size_t runs) {
  std::vector<std::string> parts;
  if (!meta.coder_version.empty()) parts.push_back("coder " + E(meta.coder_version));
  if (!meta.started_at.empty()) parts.push_back("started " + E(meta.started_at));
  parts.push_back("wall time " + FormatMs(meta.wall_seconds * 1000));
  parts.push_back(fmt::format("{} runs", runs));
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : " · ") + p;
  return out + "\n";
}

const VariantSummary* SummaryOf(const ReportVariant& v) { return v.summary ? &*v.summary : nullptr; }

std::string SummarySection(const std::vector<ReportVariant>& variants, const ReportSections& sections) {
  constexpr auto latency = &VariantSummary::latency_ms;
  std::vector<Row> rows;
  for (const ReportVariant& v : variants) {
    const VariantSummary* s = SummaryOf(v);
    std::string step = "-";
    if (s && s->dominant_step) step = E(s->dominant_step->name) + " " + FormatMs(s->dominant_step->ms);
    rows.push_back({E(v.spec.name),
                    v.spec.baseline ? "baseline"
                    : v.spec.gated  ? "gated"
                                    : "-",
                    s ? fmt::format("{}", s->runs) : "-", s ? E(OutcomeCountsText(*s)) : "-",
                    DistributionMs(s, latency, "min", kAtLeast), DistributionMs(s, latency, "p50", kAtLeast),
                    DistributionMs(s, latency, "p95", kAtLeast), DistributionMs(s, latency, "p99", kAtLeast),
                    DistributionMs(s, latency, "max", kAtLeast), DistributionMs(s, &VariantSummary::ready_ms, "p50"),
                    DistributionBytes(s, &VariantSummary::tree_peak_rss_bytes, "p50"),
                    DistributionBytes(s, &VariantSummary::tree_peak_rss_bytes, "max"), step,
                    s ? E(CountsText(s->fingerprints)) : "-"});
    if (!sections.dominant_step) rows.back().erase(rows.back().end() - 2);
  }
  Row header{"variant", "gate", "runs",      "outcomes",     "latency min",  "p50",           "p95",
             "p99",     "max",  "ready p50", "peak RSS p50", "peak RSS max", "dominant step", "fingerprints"};
  std::string align = "llrlrrrrrrrrll";
  if (!sections.dominant_step) {
    header.erase(header.end() - 2);
    align.erase(align.size() - 2, 1);
  }
  size_t censored = 0;
  for (const ReportVariant& v : variants) censored += v.summary ? v.summary->latency_ms.censored : 0;
  std::string note;
  if (censored > 0)
    note = fmt::format(
        "\n≥ marks a latency that is a lower bound: {} run{} killed by the watchdog would have stopped "
        "no sooner, if at all.\n",
        censored, censored == 1 ? "" : "s");
  return "\n### Shutdown per variant\n\n" + Table(header, align, rows) + note;
}

std::string FixedTailSection(const std::vector<ReportVariant>& variants) {
  std::vector<Row> rows;
  for (const ReportVariant& v : variants)
    if (std::string tail = FixedTailText(SummaryOf(v)); !tail.empty()) rows.push_back({E(v.spec.name), E(tail)});
  if (rows.empty()) return "";
  return "\n### Fixed tails\n\nStops that cluster at one latency of 1 s or more are the signature of a timeout: "
         "something waited until its timer ran out.\n\n" +
         Table({"variant", "fixed tail"}, "ll", rows);
}

std::string TrafficSection(const std::vector<ReportVariant>& variants) {
  std::vector<Row> rows;
  for (const ReportVariant& v : variants) {
    if (!v.summary || !v.summary->traffic) continue;
    Row row = {E(v.spec.name)};
    for (const std::string& cell : TrafficCells(*v.summary->traffic)) row.push_back(E(cell));
    rows.push_back(std::move(row));
  }
  if (rows.empty()) return "";
  Row header = {"variant"};
  for (std::string& h : TrafficHeader()) header.push_back(std::move(h));
  return "\n### Traffic during the stop\n\nEvery request the harness sent has one fate: answered (before or during the "
         "stop), refused once the listener closed, closed before the server read it (safe to retry), **dropped** "
         "(taken and never answered whole), or open when the target exited.\n\n" +
         Table(header, "lrrrrrrrrrrll", rows);
}

std::string HeldSlotsSection(const std::vector<ReportVariant>& variants, const ReportSections& sections) {
  if (!sections.held_slots) return "";
  std::vector<Row> rows;
  for (const ReportVariant& v : variants) {
    if (!v.summary || v.summary->held_slots.empty()) continue;
    std::string named;
    for (const auto& [slot, n] : v.summary->held_slots)
      named += fmt::format("{}{} ({} runs)", named.empty() ? "" : ", ", E(slot), n);
    rows.push_back({E(v.spec.name), fmt::format("{}", v.summary->findings), named});
  }
  if (rows.empty()) return "";
  return "\n### Held wait-group slots\n\nSlots a shutdown timeout line named as still held: what the tail waited "
         "on.\n\n" +
         Table({"variant", "runs with findings", "slots still held"}, "lrl", rows);
}

std::string ComparisonSection(const ReportDocument& report) {
  if (!report.comparisons || report.comparisons->empty()) return "";
  const std::vector<Comparison>& comparisons = *report.comparisons;
  const std::string suite = fmt::format("suite of {} stops", comparisons.front().suite_stops);
  std::vector<Row> rows;
  for (const Comparison& c : comparisons) {
    auto seconds = [&](double value, bool lower_bound) {
      return (lower_bound ? std::string(kAtLeast) : std::string()) + FormatMs(value * 1000);
    };
    rows.push_back({E(c.variant), E(c.baseline), FormatRatioEstimate(c.p50_ratio, kAtLeast, "≤ "),
                    FormatRatioEstimate(c.p95_ratio, kAtLeast, "≤ "), Percent(c.timeout_rate),
                    Percent(c.baseline_timeout_rate), c.peak_rss_ratio ? FormatRatio(*c.peak_rss_ratio) : "-",
                    seconds(c.suite_shutdown_seconds, c.suite_shutdown_lower_bound),
                    seconds(c.baseline_suite_shutdown_seconds, c.baseline_suite_shutdown_lower_bound),
                    c.regression ? "**yes**" : "no"});
  }
  return "\n### Against the baseline\n\nLatency ratios are variant / baseline with a 95% bootstrap interval; the " +
         suite + " spends that long in shutdown (stops × median latency).\n\n" +
         Table({"variant", "baseline", "latency p50 ratio (95% CI)", "latency p95 ratio (95% CI)", "timeout rate",
                "baseline timeout rate", "peak RSS ratio", suite + " in shutdown", "baseline " + suite, "regression"},
               "llrrrrrrrl", rows);
}

// Each variant's runs as a schedule of their own (`budget.variants`, when the harness analysed them so).
std::string PerVariantBudget(const ReportBudget& budget, bool has_budget) {
  std::vector<Row> rows;
  for (const VariantBudget& v : budget.variants) {
    const BudgetAnalysis& m = v.measured;
    const BudgetAnalysis* p = v.projected ? &*v.projected : nullptr;
    auto peak = [](const BudgetAnalysis* a) {
      return a ? fmt::format("{} (tails {})", FormatBytes(a->peak_total_bytes), FormatBytes(a->peak_tail_bytes))
               : std::string("-");
    };
    std::string over = "- (no budget)";
    if (has_budget) over = m.over_budget ? "**yes, measured**" : p && p->over_budget ? "**yes, projected**" : "no";
    const std::string live =
        fmt::format("{:.2f} = {:.2f}/s × {}", m.mean_live, m.arrival_rate_per_s, FormatMs(m.mean_lifetime_ms));
    const std::string tail = fmt::format("{} ({})", FormatMs(m.mean_tail_ms), Percent(m.tail_share));
    rows.push_back({E(v.variant), peak(&m), peak(p), over, live, tail});
  }
  if (rows.empty()) return "";
  return "\nEach variant's runs as a schedule of their own (mean live targets from measured lifetimes):\n\n" +
         Table({"variant", "measured peak", "projected peak", "over budget", "mean live = rate × lifetime",
                "mean tail (share)"},
               "lrrlrr", rows);
}

std::string BudgetSection(const ReportDocument& report, const ReportSections& sections) {
  if (!sections.memory || !report.budget) return "";
  const ReportBudget& budget = *report.budget;
  const bool has_budget = budget.budget_bytes.has_value();
  const std::string assume = BytesOrNone(budget.assume_rss_bytes);

  std::vector<const BudgetAnalysis*> columns{&budget.measured};
  Row header{"figure", "measured"};
  if (budget.projected) {
    columns.push_back(&*budget.projected);
    header.push_back(fmt::format("projected (every target at {})", assume));
  }
  auto row = [&](std::string label, auto cell) {
    Row r{std::move(label)};
    for (const BudgetAnalysis* a : columns) r.push_back(cell(*a));
    return r;
  };
  std::vector<Row> rows;
  rows.push_back(row("peak total RSS", [&](const BudgetAnalysis& a) {
    return fmt::format("{} at {}", FormatBytes(a.peak_total_bytes), FormatMs(a.peak_total_at_ms));
  }));
  rows.push_back(
      row("peak held by shutdown tails", [&](const BudgetAnalysis& a) { return FormatBytes(a.peak_tail_bytes); }));
  rows.push_back(row("over budget", [&](const BudgetAnalysis& a) {
    if (!has_budget) return std::string("- (no budget)");
    return a.over_budget ? fmt::format("**yes**, for {}", FormatMs(a.time_over_budget_ms)) : std::string("no");
  }));
  rows.push_back(row("mean live targets", [&](const BudgetAnalysis& a) { return fmt::format("{:.2f}", a.mean_live); }));
  rows.push_back(row("arrival rate × mean lifetime", [&](const BudgetAnalysis& a) {
    return fmt::format("{:.2f}/s × {} = {:.2f}", a.arrival_rate_per_s, FormatMs(a.mean_lifetime_ms),
                       a.arrival_rate_per_s * a.mean_lifetime_ms / 1000);
  }));
  rows.push_back(row("mean shutdown tail (share of lifetime)", [&](const BudgetAnalysis& a) {
    return fmt::format("{} ({})", FormatMs(a.mean_tail_ms), Percent(a.tail_share));
  }));
  rows.push_back(
      row("window (first launch to last exit)", [&](const BudgetAnalysis& a) { return FormatMs(a.window_ms); }));

  std::string out = "\n### Memory held by overlapping targets\n\n";
  out += has_budget ? fmt::format("Budget: **{}** (`--memory-budget`).", FormatBytes(*budget.budget_bytes))
                    : std::string("No memory budget was set (`--memory-budget`).");
  out += " **Measured** figures are the summed sampled RSS of the real targets.";
  if (budget.projected)
    out += fmt::format(
        " **Projected** figures are computed, not measured: the same launch schedule with every target "
        "resident at {} (`--assume-rss`) from launch to exit.",
        assume);
  out += " Mean live targets and arrival rate × lifetime are the two sides of Little's law.\n\n";
  out += Table(header, "lrr", rows);
  return out + PerVariantBudget(budget, has_budget);
}

std::string FindingsSection(const ReportDocument& report, const std::vector<ReportFinding>& findings) {
  if (findings.empty()) return "";
  std::vector<const ReportFinding*> ordered;
  for (const ReportFinding& f : findings) ordered.push_back(&f);
  std::stable_partition(ordered.begin(), ordered.end(), [](const ReportFinding* f) { return f->fails; });
  std::vector<Row> rows;
  for (size_t i = 0; i < ordered.size() && i < kMaxFindingRows; ++i) {
    const ReportFinding& f = *ordered[i];
    rows.push_back({f.fails   ? "❌ fails"
                    : f.gated ? "reported (kind not gated)"
                              : "reported (baseline)",
                    f.variant.empty() ? "(all variants)" : E(f.variant), f.run ? fmt::format("#{}", *f.run) : "-",
                    E(f.kind), E(f.message)});
  }
  std::string out = "\n### Findings\n\n";
  if (report.gate) {
    std::string kinds;
    for (FindingKind k : report.gate->fail_on) kinds += (kinds.empty() ? "" : ", ") + E(ToString(k));
    out += fmt::format("Failing kinds (`--fail-on`): {}.\n\n", kinds.empty() ? "none" : kinds);
  } else {
    out += "No gate in this report: findings are derived from the runs, every kind failing in gated variants.\n\n";
  }
  out += Table({"", "variant", "run", "kind", "message"}, "lllll", rows);
  if (ordered.size() > kMaxFindingRows)
    out += fmt::format("\n… and {} more findings (see the JSON report).\n", ordered.size() - kMaxFindingRows);
  return out;
}

// A fence longer than any run of backticks in the text, so no line of a target's output can close it.
std::string FenceFor(const std::vector<std::string>& lines) {
  size_t longest = 0;
  for (const std::string& line : lines) {
    size_t run = 0;
    for (char c : line) {
      run = c == '`' ? run + 1 : 0;
      longest = std::max(longest, run);
    }
  }
  return std::string(std::max<size_t>(3, longest + 1), '`');
}

std::string HangOutputSection(const RunSource& runs, const std::vector<ReportVariant>& variants) {
  FirstHangPerVariant first;  // only those are kept while the runs stream by
  (void)runs.ForEach([&](const RunRecord& run) -> Status {
    first.Add(run);
    return Ok{};
  });
  std::vector<std::string> order;
  for (const ReportVariant& v : variants) order.push_back(v.spec.name);
  std::string out;
  for (const RunRecord* record : first.InOrder(order)) {
    const auto lines = LastOutputLines(*record, kHangLines, true);
    out += fmt::format("\n**{} #{}** {}{} (times {})\n\n", E(record->variant), record->index, ToString(record->outcome),
                       record->detail.empty() ? "" : ": " + E(record->detail), E(LogClockPhrase(*record)));
    if (lines.empty()) {
      out += "(no output)\n";
      continue;
    }
    const std::string fence = FenceFor(lines);
    out += fence + "text\n";
    for (const std::string& line : lines) out += line + "\n";
    out += fence + "\n";
    if (record->hang) {
      const std::vector<std::string> where = WhereItHungLines(*record->hang, record->stacks);
      out += fmt::format("\n**Where it hung:** {}\n\n", E(record->hang->verdict));
      const std::string where_fence = FenceFor(where);
      out += where_fence + "text\n";
      for (size_t i = 1; i < where.size(); ++i) out += TerminalSafe(where[i]) + "\n";
      out += where_fence + "\n";
    }
  }
  if (out.empty()) return "";
  return fmt::format(
             "\n### Last output before the stop went wrong\n\nThe last {} lines of the first run of each "
             "variant that was killed by the watchdog, timed out, was slow or crashed.\n",
             kHangLines) +
         out;
}

std::string NotesSection(const ReportMeta& meta) {
  std::string out;
  for (const std::string& note : meta.notes) out += "- " + E(note) + "\n";
  return out.empty() ? "" : "\n### Notes\n\n" + out;
}

// The fleet's verdict beside this job's: each check as its sentence.
std::string HistorySection(const std::optional<ReportHistory>& history) {
  if (!history) return "";
  std::string out = fmt::format("\n### History\n\n{} run{} added to {} ({} already in it).\n\n", history->added,
                                history->added == 1 ? "" : "s", E(history->location), history->already);
  // The sentence ends in the verdict; one that still recurs is what a reader must not miss.
  for (const HistoryVerdict& v : history->verdicts)
    out += v.check.verdict == RecurrenceVerdict::kStillRecurring ? "- **" + E(v.sentence) + "**\n"
                                                                 : "- " + E(v.sentence) + "\n";
  return out;
}

}  // namespace

std::string MarkdownEscape(std::string_view text) {
  const std::string valid = ValidUtf8(text);
  std::string out;
  out.reserve(valid.size());
  for (char c : valid) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '\x7f') {
      out += ' ';  // a newline would end a table row
      continue;
    }
    // Backslash escapes are literal for any ASCII punctuation in CommonMark; these are the ones that
    // start markup (emphasis, code, links, HTML, tables, strikethrough, entities).
    if (std::string_view("\\`*_[]<>|~&").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

std::string RenderMarkdown(const ReportDocument& report, const RunSource& runs) {
  const std::vector<ReportFinding> findings = ReportFindings(report, runs);
  std::string out = "## coder diag shutdown\n\n";
  out += Verdict(report, runs, findings);
  out += "\n" + MetaLine(report.meta, runs.size());
  const ReportSections sections = ChooseSections(report);
  out += SummarySection(report.variants, sections);
  out += FixedTailSection(report.variants);
  out += TrafficSection(report.variants);
  out += HeldSlotsSection(report.variants, sections);
  out += ComparisonSection(report);
  out += BudgetSection(report, sections);
  out += FindingsSection(report, findings);
  out += HistorySection(report.history);
  out += HangOutputSection(runs, report.variants);
  out += NotesSection(report.meta);
  return out;
}

Status AppendGithubStepSummary(const std::string& markdown) {
  const char* path = std::getenv("GITHUB_STEP_SUMMARY");
  if (!path || !*path) return Ok{};
  const int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Error{fmt::format("$GITHUB_STEP_SUMMARY {}: {}", path, std::strerror(errno))};
  std::string text = markdown;
  if (text.empty() || text.back() != '\n') text += '\n';
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      return Error{fmt::format("$GITHUB_STEP_SUMMARY {}: {}", path, std::strerror(err))};
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return Error{fmt::format("$GITHUB_STEP_SUMMARY {}: {}", path, std::strerror(errno))};
  return Ok{};
}

}  // namespace coder::harness
