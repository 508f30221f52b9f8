#include "harness/report/annotations.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "harness/report/report.h"
#include "harness/report/report_view.h"

namespace coder::harness {
namespace {

using nlohmann::json;

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

std::string BudgetNote(const json& budget) {
  std::string out;
  for (const auto& [label, key] : {std::pair{"measured", "measured"}, std::pair{"projected", "projected"}}) {
    const json* a = Member(budget, key);
    if (!a || !BoolMember(*a, "over_budget")) continue;
    out += fmt::format("{}{} peak {} is over the {} budget for {}", out.empty() ? "" : "; ", label,
                       BytesMember(*a, "peak_total_bytes"), BytesMember(budget, "budget_bytes"),
                       FormatMs(NumberMember(*a, "time_over_budget_ms").value_or(0)));
    if (std::string_view(key) == "projected")
      out += fmt::format(" (every target at {}; computed, not measured)", BytesMember(budget, "assume_rss_bytes"));
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

std::string RenderGithubAnnotations(const json& report) {
  const SplitReport split = SplitRuns(report);
  return RenderGithubAnnotations(split.outline, split.runs);
}

std::string RenderGithubAnnotations(const json& report, const RunSource& runs) {
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
  if (const json* budget = Member(report, "budget"); budget && !reported("budget", "")) {
    if (std::string note = BudgetNote(*budget); !note.empty())
      out += Command(false, "coder diag shutdown: memory budget", note);
  }
  for (const json* c : ArrayMember(report, "comparisons")) {
    const std::string variant = StringMember(*c, "variant");
    if (!BoolMember(*c, "regression") || reported("regression", variant)) continue;
    const json* p95 = Member(*c, "p95_ratio");
    auto ratio = [&](std::string_view key) {
      const auto v = p95 ? NumberMember(*p95, key) : std::nullopt;
      return v ? FormatRatio(*v) : std::string("?");
    };
    const bool lower_bound = p95 && StringMember(*p95, "bound") == "lower_bound";
    out += Command(false, Title(variant, "regression"),
                   fmt::format("p95 shutdown latency is {}{} the baseline {}'s (95% interval {}-{})",
                               lower_bound ? "at least " : "", ratio("ratio"), StringMember(*c, "baseline"),
                               ratio("ci_low"), lower_bound ? std::string("inf") : ratio("ci_high")));
  }
  return out;
}

}  // namespace coder::harness
