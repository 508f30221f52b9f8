#include "harness/history/history_commands.h"

#include <fmt/format.h>

#include <cctype>

#include "common/terminal_text.h"
#include "harness/analysis/exit_codes.h"
#include "harness/history/history_ingest.h"
#include "harness/history/trend_plot.h"

namespace coder::harness {
namespace {

std::string RateText(const Proportion& p, const RateInterval& interval) {
  return fmt::format("{} of {}, {} [{}, {}]", p.hits, p.runs, FormatRate(p.rate()), FormatRate(interval.lower),
                     FormatRate(interval.upper));
}

bool IsCommitPrefix(const std::string& s) {
  if (s.size() < 4 || s.size() > 64) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

bool IsHistorySince(const std::string& since) { return CanonicalUtc(since) || IsCommitPrefix(since); }

std::string HistorySinceError(const std::string& since) {
  return fmt::format("--since {}: neither a commit (4 to 64 hex digits) nor a time (YYYY-MM-DD or RFC 3339)", since);
}

ResolvedSince ResolveHistorySince(HistoryStore& store, const std::string& since, const std::string& location) {
  if (auto time = CanonicalUtc(since)) return {*time};
  if (!IsCommitPrefix(since)) return {"", kDiagUsage, HistorySinceError(since)};
  auto found = store.FindCommit(since);
  if (!found) return {"", kDiagHarnessFailed, found.error().message};
  if (found->commits.empty())
    return {"", kDiagUsage,
            fmt::format("no run of commit {} in {}: ingest its reports first", since, DisplayLocation(location))};
  if (found->commits.size() > 1)
    return {"", kDiagUsage,
            fmt::format("commit {} is ambiguous in the history ({}, {}, ...): give more of it", since,
                        found->commits[0], found->commits[1])};
  return {found->first_at};
}

std::string RecurrenceSentence(const RecurrenceCheck& check, const std::string& what, const std::string& since) {
  std::string sentence = fmt::format("{}: {} of {} runs since {}", what, check.since.hits, check.since.runs, since);
  if (check.since.hits > 0)
    sentence += fmt::format(", {} [{}, {}]", FormatRate(check.since.rate()), FormatRate(check.since_interval.lower),
                            FormatRate(check.since_interval.upper));
  sentence +=
      fmt::format(" (before: {}); Fisher p = {:.2g}: ", RateText(check.before, check.before_interval), check.p_value);
  switch (check.verdict) {
    case RecurrenceVerdict::kStopped: return sentence + "stopped.";
    case RecurrenceVerdict::kStillRecurring:
      return sentence +
             (check.p_value < 1 - check.confidence ? "less often, but still recurring." : "still recurring.");
    case RecurrenceVerdict::kNotEnoughEvidence: break;
  }
  sentence += "not enough evidence yet";
  if (check.before.hits == 0) return sentence + fmt::format(": it never happened before {}.", since);
  if (check.more_clean_runs)
    return sentence + fmt::format("; {} more clean run{} would make it conclusive.", *check.more_clean_runs,
                                  *check.more_clean_runs == 1 ? "" : "s");
  return sentence + ".";
}

Result<HistoryCheckResult> CheckHistory(HistoryStore& store, const RecurrenceSelector& selector,
                                        const RunFilter& filter, const std::string& since, const std::string& since_at,
                                        double confidence) {
  auto counts = store.CountAround(selector, filter, since_at);
  if (!counts) return counts.error();
  HistoryCheckResult result{CheckRecurrence(counts->first, counts->second, confidence), ""};
  std::string what = (selector.kind == RecurrenceSelector::Kind::kOutcome ? "outcome " : "") + selector.name;
  if (filter.variant) what += " in " + *filter.variant;
  if (filter.branch) what += " on " + *filter.branch;
  result.sentence = RecurrenceSentence(result.check, what, since);
  return result;
}

int RunHistoryIngest(const HistoryIngestConfig& config) {
  const char* self = "coder diag history ingest";
  RunOrigin origin = OriginFromEnvironment(config.origin);
  if (!origin.at.empty()) {
    auto at = CanonicalUtc(origin.at);
    if (!at) {
      fmt::print(stderr, "{}: --time {}: not a time (RFC 3339, e.g. 2026-12-01T10:00:00Z, or YYYY-MM-DD)\n", self,
                 TerminalSafe(origin.at));
      return kDiagUsage;
    }
    origin.at = *at;
  }
  auto store = HistoryStore::Open(config.db);
  if (!store) {
    fmt::print(stderr, "{}: {}\n", self, TerminalSafe(store.error().message));
    return kDiagHarnessFailed;
  }
  int status = kDiagNoFindings;
  for (const std::string& report : config.reports) {
    auto outcome = IngestReportFile(**store, report, origin);
    if (!outcome) {
      // The database failed (locked past its timeout, a full disk): the next report would fare no better.
      fmt::print(stderr, "{}: {}\n", self, TerminalSafe(outcome.error().message));
      return kDiagHarnessFailed;
    }
    if (outcome->refused) {
      // Refused whole (one transaction a report); the other reports are still worth keeping.
      fmt::print(stderr, "{}: refused {}\n", self, TerminalSafe(outcome->refused->message));
      status = kDiagUsage;
      continue;
    }
    const IngestCounts& counts = outcome->counts;
    fmt::print("{}: {} run{} added, {} already in the history\n", TerminalSafe(report), counts.added,
               counts.added == 1 ? "" : "s", counts.already);
  }
  return status;
}

int RunHistoryCheck(const HistoryCheckConfig& config) {
  auto fail = [](int code, const std::string& message) {
    fmt::print(stderr, "coder diag history check: {}\n", TerminalSafe(message));
    return code;
  };
  if (!IsHistorySince(config.since)) return fail(kDiagUsage, HistorySinceError(config.since));
  auto store = HistoryStore::Open(config.db);
  if (!store) return fail(kDiagHarnessFailed, store.error().message);
  const ResolvedSince since = ResolveHistorySince(**store, config.since, config.db);
  if (since.code != 0) return fail(since.code, since.error);
  auto checked = CheckHistory(**store, config.selector, {config.variant, config.branch}, config.since, since.at,
                              config.confidence);
  if (!checked) return fail(kDiagHarnessFailed, checked.error().message);
  fmt::print("{}\n", TerminalSafe(checked->sentence));
  const RecurrenceCheck& check = checked->check;
  switch (check.verdict) {
    case RecurrenceVerdict::kStopped: return kHistoryStopped;
    case RecurrenceVerdict::kStillRecurring: return kHistoryStillRecurring;
    case RecurrenceVerdict::kNotEnoughEvidence: break;
  }
  return kHistoryNotEnoughEvidence;
}

int RunHistoryShow(const HistoryShowConfig& config) {
  auto fail = [](int code, const std::string& message) {
    fmt::print(stderr, "coder diag history show: {}\n", TerminalSafe(message));
    return code;
  };
  if (!config.since.empty() && !IsHistorySince(config.since)) return fail(kDiagUsage, HistorySinceError(config.since));
  auto store = HistoryStore::Open(config.db);
  if (!store) return fail(kDiagHarnessFailed, store.error().message);
  std::string since_at;
  if (!config.since.empty()) {
    const ResolvedSince since = ResolveHistorySince(**store, config.since, config.db);
    if (since.code != 0) return fail(since.code, since.error);
    since_at = since.at;
  }
  const RunFilter filter{config.variant, config.branch};
  auto start = (*store)->StartOfLatestBuckets(filter, since_at, config.trend.by, config.trend.last);
  if (!start) return fail(kDiagHarnessFailed, start.error().message);
  auto window = (*store)->ReadWindow(filter, *start);
  if (!window) return fail(kDiagHarnessFailed, window.error().message);
  Trend trend = BuildTrend(*window, config.trend);
  trend.since = since_at;
  trend.earlier_not_read = *start != since_at;
  // A name ingested with invalid UTF-8 (a runner's, a branch's) is shown with U+FFFD, not thrown at.
  if (config.json) fmt::print("{}\n", TrendToJson(trend).dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
  else fmt::print("{}", RenderTrendTable(trend));
  if (!config.plot.empty()) {
    if (auto st = WriteTrendPlot(trend, config.plot); !st) return fail(kDiagUsage, st.error().message);
    if (!config.json) fmt::print("plot: {}\n", TerminalSafe(config.plot));
  }
  return kDiagNoFindings;
}

}  // namespace coder::harness
