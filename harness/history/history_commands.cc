#include "harness/history/history_commands.h"

#include <fmt/format.h>

#include <cctype>

#include "harness/analysis/exit_codes.h"
#include "harness/history/history_ingest.h"

namespace coder::harness {
namespace {

std::string RateText(const Proportion& p, const RateInterval& interval) {
  return fmt::format("{} of {}, {} [{}, {}]", p.hits, p.runs, FormatRate(p.rate()), FormatRate(interval.lower),
                     FormatRate(interval.upper));
}

bool IsDate(const std::string& s) {
  auto digits = [&](size_t from, size_t n) {
    for (size_t i = from; i < from + n; ++i)
      if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    return true;
  };
  return digits(0, 4) && s.size() >= 10 && s[4] == '-' && digits(5, 2) && s[7] == '-' && digits(8, 2) &&
         (s.size() == 10 || s[10] == 'T');
}

bool IsCommitPrefix(const std::string& s) {
  if (s.size() < 4 || s.size() > 64) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

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

int RunHistoryIngest(const HistoryIngestConfig& config) {
  auto store = HistoryStore::Open(config.db);
  if (!store) {
    fmt::print(stderr, "coder diag history ingest: {}\n", store.error().message);
    return kDiagHarnessFailed;
  }
  const RunOrigin origin = OriginFromEnvironment(config.origin);
  int status = kDiagNoFindings;
  for (const std::string& report : config.reports) {
    auto counts = IngestReportFile(**store, report, origin);
    if (!counts) {
      // Refused whole (one transaction a report); the other reports are still worth keeping.
      fmt::print(stderr, "coder diag history ingest: refused {}\n", counts.error().message);
      status = std::max(status, kDiagUsage);
      continue;
    }
    fmt::print("{}: {} run{} added, {} already in the history\n", report, counts->added, counts->added == 1 ? "" : "s",
               counts->already);
  }
  return status;
}

int RunHistoryCheck(const HistoryCheckConfig& config) {
  const char* self = "coder diag history check";
  if (!IsDate(config.since) && !IsCommitPrefix(config.since)) {
    fmt::print(stderr, "{}: --since {}: neither a commit (4 to 64 hex digits) nor a date (YYYY-MM-DD)\n", self,
               config.since);
    return kDiagUsage;
  }
  auto store = HistoryStore::Open(config.db);
  if (!store) {
    fmt::print(stderr, "{}: {}\n", self, store.error().message);
    return kDiagHarnessFailed;
  }
  std::string since_at = config.since;
  if (!IsDate(config.since)) {
    auto first = (*store)->FirstRunOfCommit(config.since);
    if (!first) {
      fmt::print(stderr, "{}: {}\n", self, first.error().message);
      return kDiagUsage;
    }
    if (!*first) {
      fmt::print(stderr, "{}: no run of commit {} in {}: ingest its reports first\n", self, config.since, config.db);
      return kDiagUsage;
    }
    since_at = **first;
  }
  auto before = (*store)->Count(config.selector, config.variant, since_at, true);
  auto since = (*store)->Count(config.selector, config.variant, since_at, false);
  if (!before || !since) {
    fmt::print(stderr, "{}: {}\n", self, (!before ? before.error() : since.error()).message);
    return kDiagHarnessFailed;
  }
  const RecurrenceCheck check = CheckRecurrence(*before, *since, config.confidence);
  const std::string what = (config.selector.kind == RecurrenceSelector::Kind::kOutcome ? "outcome " : "") +
                           config.selector.name + (config.variant ? " in " + *config.variant : "");
  fmt::print("{}\n", RecurrenceSentence(check, what, config.since));
  switch (check.verdict) {
    case RecurrenceVerdict::kStopped: return kHistoryStopped;
    case RecurrenceVerdict::kStillRecurring: return kHistoryStillRecurring;
    case RecurrenceVerdict::kNotEnoughEvidence: break;
  }
  return kHistoryNotEnoughEvidence;
}

}  // namespace coder::harness
