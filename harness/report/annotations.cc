#include "harness/report/annotations.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "harness/report/report.h"
#include "harness/report/report_view.h"

namespace coder::harness {
namespace {

constexpr size_t kMaxListedRuns = 10;

/// Findings of one variant and kind with the same verdict: one annotation.
struct Group {
  const ReportFinding* first = nullptr;
  std::vector<int> runs;
  size_t count = 0;
};

std::string Title(const std::string& variant, std::string_view what = "") {
  std::string title = fmt::format("coder diag shutdown: {}", variant.empty() ? "all variants" : variant);
  if (!what.empty()) title += fmt::format(" ({})", what);
  return title;
}

std::string Command(bool error, const std::string& title, const std::string& message) {
  return fmt::format("::{} title={}::{}\n", error ? "error" : "warning", EscapeGithubCommand(title, true),
                     EscapeGithubCommand(message, false));
}

std::string GroupMessage(const Group& g) {
  const ReportFinding& f = *g.first;
  if (g.count == 1) return f.run ? fmt::format("#{} {}", *f.run, f.message) : f.message;
  std::string runs;
  for (size_t i = 0; i < g.runs.size() && i < kMaxListedRuns; ++i)
    runs += fmt::format("{}#{}", runs.empty() ? "" : ", ", g.runs[i]);
  if (g.runs.size() > kMaxListedRuns) runs += fmt::format(", +{} more", g.runs.size() - kMaxListedRuns);
  const std::string where = g.runs.empty() ? "" : fmt::format(" in {} runs ({})", g.runs.size(), runs);
  return fmt::format("{} {} findings{}; first: {}", g.count, f.kind, where, f.message);
}

std::string BudgetNote(const ReportBudget& budget) {
  std::string out;
  const std::pair<const char*, const BudgetAnalysis*> analyses[] = {
      {"measured", &budget.measured}, {"projected", budget.projected ? &*budget.projected : nullptr}};
  for (const auto& [label, a] : analyses) {
    if (!a || !a->over_budget) continue;
    out += fmt::format("{}{} peak {} is over the {} budget for {}", out.empty() ? "" : "; ", label,
                       FormatBytes(a->peak_total_bytes), BytesOrNone(budget.budget_bytes),
                       FormatMs(a->time_over_budget_ms));
    if (std::string_view(label) == "projected")
      out += fmt::format(" (every target at {}; computed, not measured)", BytesOrNone(budget.assume_rss_bytes));
  }
  return out;
}

}  // namespace

std::string EscapeGithubCommand(std::string_view text, bool property) {
  std::string out;
  out.reserve(text.size());
  for (char c : ValidUtf8(text)) {
    switch (c) {
      case '%': out += "%25"; break;
      case '\r': out += "%0D"; break;
      case '\n': out += "%0A"; break;
      case ':': out += property ? "%3A" : ":"; break;
      case ',': out += property ? "%2C" : ","; break;
      default: out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
    }
  }
  return out;
}

bool GithubActions() {
  const char* v = std::getenv("GITHUB_ACTIONS");
  return v && std::strcmp(v, "true") == 0;
}

std::string RenderGithubAnnotations(const ReportDocument& report, const RunSource& runs) {
  const std::vector<ReportFinding> findings = ReportFindings(report, runs);
  std::vector<Group> groups;
  for (const ReportFinding& f : findings) {
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) {
      return g.first->variant == f.variant && g.first->kind == f.kind && g.first->fails == f.fails &&
             g.first->gated == f.gated;
    });
    if (it == groups.end()) it = groups.insert(groups.end(), Group{.first = &f});
    ++it->count;
    if (f.run) it->runs.push_back(*f.run);
  }
  std::string out;
  // Errors first: they are what a reader of a red build looks for.
  for (bool errors : {true, false})
    for (const Group& g : groups)
      if (g.first->fails == errors)
        out += Command(errors,
                       Title(g.first->variant, g.first->fails   ? ""
                                               : g.first->gated ? "not gated"
                                                                : "baseline"),
                       GroupMessage(g));

  auto reported = [&](std::string_view kind, const std::string& variant) {
    return std::any_of(findings.begin(), findings.end(), [&](const ReportFinding& f) {
      return f.kind == kind && (variant.empty() || f.variant == variant);
    });
  };
  if (report.budget && !reported("budget", "")) {
    if (std::string note = BudgetNote(*report.budget); !note.empty())
      out += Command(false, "coder diag shutdown: memory budget", note);
  }
  if (report.comparisons)
    for (const Comparison& c : *report.comparisons) {
      if (!c.regression || reported("regression", c.variant)) continue;
      const std::optional<RatioEstimate>& p95 = c.p95_ratio;
      auto ratio = [&](double RatioEstimate::*member) {
        return p95 && std::isfinite((*p95).*member) ? FormatRatio((*p95).*member) : std::string("?");
      };
      const bool lower_bound = p95 && p95->bound == RatioEstimate::Bound::kLowerBound;
      out += Command(false, Title(c.variant, "regression"),
                     fmt::format("p95 shutdown latency is {}{} the baseline {}'s (95% interval {}-{})",
                                 lower_bound ? "at least " : "", ratio(&RatioEstimate::ratio), c.baseline,
                                 ratio(&RatioEstimate::ci_low),
                                 lower_bound ? std::string("inf") : ratio(&RatioEstimate::ci_high)));
    }
  return out;
}

}  // namespace coder::harness
