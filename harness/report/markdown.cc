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

#include "harness/report/report.h"
#include "harness/report/report_sections.h"
#include "harness/report/report_view.h"
#include "harness/analysis/run_output.h"

namespace coder::harness {
namespace {

using nlohmann::json;

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

std::string Verdict(const json& report, const RunSource& runs, const std::vector<ReportFinding>& findings) {
  const bool fails = std::any_of(findings.begin(), findings.end(), [](const ReportFinding& f) { return f.fails; });
  const int exit_code = ReportExitCode(report);
  const char* icon = ReportInterrupted(report) || exit_code == 3 ? "⚠️" : fails || exit_code == 1 ? "❌" : "✅";
  return fmt::format("{} **{}**\n", icon, E(ReportVerdict(report, runs)));
}

std::string MetaLine(const json& report, size_t runs) {
  const json* meta = Member(report, "meta");
  if (!meta) return "";
  std::vector<std::string> parts;
  if (auto v = StringMember(*meta, "coder_version"); !v.empty()) parts.push_back("coder " + E(v));
  if (auto v = StringMember(*meta, "started_at"); !v.empty()) parts.push_back("started " + E(v));
  if (auto v = NumberMember(*meta, "wall_seconds")) parts.push_back("wall time " + FormatMs(*v * 1000));
  parts.push_back(fmt::format("{} runs", runs));
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : " · ") + p;
  return out + "\n";
}

std::string SummarySection(const std::vector<VariantView>& variants, const ReportSections& sections) {
  std::vector<Row> rows;
  for (const VariantView& v : variants) {
    const json* s = v.summary;
    std::string step = "-";
    if (const json* d = s ? Member(*s, "dominant_step") : nullptr)
      if (auto ms = NumberMember(*d, "ms")) step = E(StringMember(*d, "name")) + " " + FormatMs(*ms);
    rows.push_back({E(v.name),
                    v.baseline ? "baseline"
                    : v.gated  ? "gated"
                               : "-",
                    s ? fmt::format("{}", NumberMember(*s, "runs").value_or(0)) : "-",
                    s ? E(OutcomeCountsText(*s)) : "-", DistributionMs(s, "latency_ms", "min", kAtLeast),
                    DistributionMs(s, "latency_ms", "p50", kAtLeast), DistributionMs(s, "latency_ms", "p95", kAtLeast),
                    DistributionMs(s, "latency_ms", "p99", kAtLeast), DistributionMs(s, "latency_ms", "max", kAtLeast),
                    DistributionMs(s, "ready_ms", "p50"), DistributionBytes(s, "tree_peak_rss_bytes", "p50"),
                    DistributionBytes(s, "tree_peak_rss_bytes", "max"), step,
                    s ? E(CountsText(Member(*s, "fingerprints"))) : "-"});
    if (!sections.dominant_step) rows.back().erase(rows.back().end() - 2);
  }
  Row header{"variant", "gate", "runs", "outcomes", "latency min", "p50", "p95", "p99", "max", "ready p50",
             "peak RSS p50", "peak RSS max", "dominant step", "fingerprints"};
  std::string align = "llrlrrrrrrrrll";
  if (!sections.dominant_step) {
    header.erase(header.end() - 2);
    align.erase(align.size() - 2, 1);
  }
  size_t censored = 0;
  for (const VariantView& v : variants) censored += CensoredCount(v.summary, "latency_ms");
  std::string note;
  if (censored > 0)
    note = fmt::format("\n≥ marks a latency that is a lower bound: {} run{} killed by the watchdog would have stopped "
                       "no sooner, if at all.\n",
                       censored, censored == 1 ? "" : "s");
  return "\n### Shutdown per variant\n\n" + Table(header, align, rows) + note;
}

std::string FixedTailSection(const std::vector<VariantView>& variants) {
  std::vector<Row> rows;
  for (const VariantView& v : variants)
    if (std::string tail = FixedTailText(v.summary); !tail.empty()) rows.push_back({E(v.name), E(tail)});
  if (rows.empty()) return "";
  return "\n### Fixed tails\n\nStops that cluster at one latency of 1 s or more are the signature of a timeout: "
         "something waited until its timer ran out.\n\n" +
         Table({"variant", "fixed tail"}, "ll", rows);
}

std::string HeldSlotsSection(const std::vector<VariantView>& variants, const ReportSections& sections) {
  if (!sections.held_slots) return "";
  std::vector<Row> rows;
  for (const VariantView& v : variants) {
    const json* slots = v.summary ? Member(*v.summary, "held_slots") : nullptr;
    if (!slots || !slots->is_object() || slots->empty()) continue;
    std::string named;
    for (const auto& [slot, n] : slots->items())
      named += fmt::format("{}{} ({} runs)", named.empty() ? "" : ", ", E(slot), n.is_number() ? n.dump() : "?");
    rows.push_back({E(v.name), fmt::format("{}", NumberMember(*v.summary, "findings").value_or(0)), named});
  }
  if (rows.empty()) return "";
  return "\n### Held wait-group slots\n\nSlots a shutdown timeout line named as still held: what the tail waited "
         "on.\n\n" +
         Table({"variant", "runs with findings", "slots still held"}, "lrl", rows);
}

std::string ComparisonSection(const json& report) {
  const auto comparisons = ArrayMember(report, "comparisons");
  if (comparisons.empty()) return "";
  const auto stops = NumberMember(*comparisons.front(), "suite_stops");
  const std::string suite = stops ? fmt::format("suite of {} stops", *stops) : "suite";
  std::vector<Row> rows;
  for (const json* c : comparisons) {
    auto seconds = [&](std::string_view key, std::string_view lower_bound_key) {
      const auto v = NumberMember(*c, key);
      if (!v) return std::string("-");
      return (BoolMember(*c, lower_bound_key) ? std::string(kAtLeast) : std::string()) + FormatMs(*v * 1000);
    };
    const auto rss = NumberMember(*c, "peak_rss_ratio");
    rows.push_back({E(StringMember(*c, "variant")), E(StringMember(*c, "baseline")),
                    FormatRatioEstimate(Member(*c, "p50_ratio"), kAtLeast, "≤ "),
                    FormatRatioEstimate(Member(*c, "p95_ratio"), kAtLeast, "≤ "),
                    Percent(NumberMember(*c, "timeout_rate")), Percent(NumberMember(*c, "baseline_timeout_rate")),
                    rss ? FormatRatio(*rss) : "-", seconds("suite_shutdown_seconds", "suite_shutdown_lower_bound"),
                    seconds("baseline_suite_shutdown_seconds", "baseline_suite_shutdown_lower_bound"), BoolMember(*c, "regression") ? "**yes**" : "no"});
  }
  return "\n### Against the baseline\n\nLatency ratios are variant / baseline with a 95% bootstrap interval; the " +
         suite + " spends that long in shutdown (stops × median latency).\n\n" +
         Table({"variant", "baseline", "latency p50 ratio (95% CI)", "latency p95 ratio (95% CI)", "timeout rate",
                "baseline timeout rate", "peak RSS ratio", suite + " in shutdown", "baseline " + suite, "regression"},
               "llrrrrrrrl", rows);
}

// Each variant's runs as a schedule of their own (`budget.variants`, when the harness analysed them so).
std::string PerVariantBudget(const json& budget, bool has_budget) {
  std::vector<Row> rows;
  for (const json* v : ArrayMember(budget, "variants")) {
    const json* m = Member(*v, "measured");
    const json* p = Member(*v, "projected");
    auto peak = [](const json* a) {
      return a ? fmt::format("{} (tails {})", BytesMember(*a, "peak_total_bytes"), BytesMember(*a, "peak_tail_bytes"))
               : std::string("-");
    };
    std::string over = "- (no budget)";
    if (has_budget) {
      const bool m_over = m && BoolMember(*m, "over_budget");
      const bool p_over = p && BoolMember(*p, "over_budget");
      over = m_over ? "**yes, measured**" : p_over ? "**yes, projected**" : "no";
    }
    std::string live = "-", tail = "-";
    if (m) {
      const double rate = NumberMember(*m, "arrival_rate_per_s").value_or(0);
      const double life = NumberMember(*m, "mean_lifetime_ms").value_or(0);
      live = fmt::format("{:.2f} = {:.2f}/s × {}", NumberMember(*m, "mean_live").value_or(0), rate, FormatMs(life));
      tail = fmt::format("{} ({})", FormatMs(NumberMember(*m, "mean_tail_ms").value_or(0)),
                         Percent(NumberMember(*m, "tail_share")));
    }
    rows.push_back({E(StringMember(*v, "variant", "?")), peak(m), peak(p), over, live, tail});
  }
  if (rows.empty()) return "";
  return "\nEach variant's runs as a schedule of their own (mean live targets from measured lifetimes):\n\n" +
         Table({"variant", "measured peak", "projected peak", "over budget", "mean live = rate × lifetime",
                "mean tail (share)"},
               "lrrlrr", rows);
}

std::string BudgetSection(const json& report, const ReportSections& sections) {
  if (!sections.memory) return "";
  const json* budget = Member(report, "budget");
  if (!budget || !budget->is_object()) return "";
  const json* measured = Member(*budget, "measured");
  const json* projected = Member(*budget, "projected");
  if (!measured && !projected) return "";
  const bool has_budget = NumberMember(*budget, "budget_bytes").has_value();
  const std::string assume = BytesMember(*budget, "assume_rss_bytes");

  std::vector<const json*> columns;
  Row header{"figure"};
  if (measured) {
    columns.push_back(measured);
    header.push_back("measured");
  }
  if (projected) {
    columns.push_back(projected);
    header.push_back(fmt::format("projected (every target at {})", assume));
  }
  auto row = [&](std::string label, auto cell) {
    Row r{std::move(label)};
    for (const json* a : columns) r.push_back(cell(*a));
    return r;
  };
  auto ms = [](const json& a, std::string_view key) {
    const auto v = NumberMember(a, key);
    return v ? FormatMs(*v) : std::string("-");
  };
  std::vector<Row> rows;
  rows.push_back(row("peak total RSS", [&](const json& a) {
    return fmt::format("{} at {}", BytesMember(a, "peak_total_bytes"), ms(a, "peak_total_at_ms"));
  }));
  rows.push_back(row("peak held by shutdown tails", [&](const json& a) { return BytesMember(a, "peak_tail_bytes"); }));
  rows.push_back(row("over budget", [&](const json& a) {
    if (!has_budget) return std::string("- (no budget)");
    return BoolMember(a, "over_budget") ? fmt::format("**yes**, for {}", ms(a, "time_over_budget_ms"))
                                        : std::string("no");
  }));
  rows.push_back(row("mean live targets",
                     [&](const json& a) { return fmt::format("{:.2f}", NumberMember(a, "mean_live").value_or(0)); }));
  rows.push_back(row("arrival rate × mean lifetime", [&](const json& a) {
    const double rate = NumberMember(a, "arrival_rate_per_s").value_or(0);
    const double life = NumberMember(a, "mean_lifetime_ms").value_or(0);
    return fmt::format("{:.2f}/s × {} = {:.2f}", rate, FormatMs(life), rate * life / 1000);
  }));
  rows.push_back(row("mean shutdown tail (share of lifetime)", [&](const json& a) {
    return fmt::format("{} ({})", ms(a, "mean_tail_ms"), Percent(NumberMember(a, "tail_share")));
  }));
  rows.push_back(row("window (first launch to last exit)", [&](const json& a) { return ms(a, "window_ms"); }));

  std::string out = "\n### Memory held by overlapping targets\n\n";
  out += has_budget ? fmt::format("Budget: **{}** (`--memory-budget`).", BytesMember(*budget, "budget_bytes"))
                    : std::string("No memory budget was set (`--memory-budget`).");
  out += " **Measured** figures are the summed sampled RSS of the real targets.";
  if (projected)
    out += fmt::format(
        " **Projected** figures are computed, not measured: the same launch schedule with every target "
        "resident at {} (`--assume-rss`) from launch to exit.",
        assume);
  out += " Mean live targets and arrival rate × lifetime are the two sides of Little's law.\n\n";
  out += Table(header, "lrr", rows);
  return out + PerVariantBudget(*budget, has_budget);
}

std::string FindingsSection(const json& report, const std::vector<ReportFinding>& findings) {
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
  if (const json* gate = Member(report, "gate")) {
    std::string kinds;
    for (const json* k : ArrayMember(*gate, "fail_on"))
      if (k->is_string()) kinds += (kinds.empty() ? "" : ", ") + E(k->get<std::string>());
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

std::string HangOutputSection(const RunSource& runs, const std::vector<VariantView>& variants) {
  FirstHangPerVariant first;  // only those are kept while the runs stream by
  (void)runs.ForEach([&](const RunRecord& run) -> Status {
    first.Add(run);
    return Ok{};
  });
  std::vector<std::string> order;
  for (const VariantView& v : variants) order.push_back(v.name);
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
  }
  if (out.empty()) return "";
  return fmt::format("\n### Last output before the stop went wrong\n\nThe last {} lines of the first run of each "
                     "variant that was killed by the watchdog, timed out, was slow or crashed.\n",
                     kHangLines) +
         out;
}

std::string NotesSection(const json& report) {
  const json* meta = Member(report, "meta");
  if (!meta) return "";
  std::string out;
  for (const json* note : ArrayMember(*meta, "notes"))
    if (note->is_string()) out += "- " + E(note->get<std::string>()) + "\n";
  return out.empty() ? "" : "\n### Notes\n\n" + out;
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

std::string RenderMarkdown(const json& report) {
  const SplitReport split = SplitRuns(report);
  return RenderMarkdown(split.outline, split.runs);
}

std::string RenderMarkdown(const json& report, const RunSource& runs) {
  const std::vector<ReportFinding> findings = ReportFindings(report, runs);
  const std::vector<VariantView> variants = ReportVariants(report);
  std::string out = "## coder diag shutdown\n\n";
  out += Verdict(report, runs, findings);
  if (std::string meta = MetaLine(report, runs.size()); !meta.empty()) out += "\n" + meta;
  const ReportSections sections = ChooseSections(report);
  out += SummarySection(variants, sections);
  out += FixedTailSection(variants);
  out += HeldSlotsSection(variants, sections);
  out += ComparisonSection(report);
  out += BudgetSection(report, sections);
  out += FindingsSection(report, findings);
  out += HangOutputSection(runs, variants);
  out += NotesSection(report);
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
