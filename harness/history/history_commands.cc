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
  const char* self = "coder diag history ingest";
  RunOrigin origin = OriginFromEnvironment(config.origin);
  if (!origin.at.empty()) {
    auto at = CanonicalUtc(origin.at);
    if (!at) {
      fmt::print(stderr, "{}: --time {}: not a time (RFC 3339, e.g. 2026-12-01T10:00:00Z, or YYYY-MM-DD)\n", self,
                 origin.at);
      return kDiagUsage;
    }
    origin.at = *at;
  }
  auto store = HistoryStore::Open(config.db);
  if (!store) {
    fmt::print(stderr, "{}: {}\n", self, store.error().message);
    return kDiagHarnessFailed;
  }
  int status = kDiagNoFindings;
  for (const std::string& report : config.reports) {
    auto outcome = IngestReportFile(**store, report, origin);
    if (!outcome) {
      // The database failed (locked past its timeout, a full disk): the next report would fare no better.
      fmt::print(stderr, "{}: {}\n", self, outcome.error().message);
      return kDiagHarnessFailed;
    }
    if (outcome->refused) {
      // Refused whole (one transaction a report); the other reports are still worth keeping.
      fmt::print(stderr, "{}: refused {}\n", self, outcome->refused->message);
      status = kDiagUsage;
      continue;
    }
    const IngestCounts& counts = outcome->counts;
    fmt::print("{}: {} run{} added, {} already in the history\n", report, counts.added, counts.added == 1 ? "" : "s",
               counts.already);
  }
  return status;
}

int RunHistoryCheck(const HistoryCheckConfig& config) {
  auto fail = [](int code, const std::string& message) {
    fmt::print(stderr, "coder diag history check: {}\n", message);
    return code;
  };
  const std::optional<std::string> since_time = CanonicalUtc(config.since);
  if (!since_time && !IsCommitPrefix(config.since))
    return fail(kDiagUsage, fmt::format("--since {}: neither a commit (4 to 64 hex digits) nor a time (YYYY-MM-DD "
                                        "or RFC 3339)",
                                        config.since));
  auto store = HistoryStore::Open(config.db);
  if (!store) return fail(kDiagHarnessFailed, store.error().message);
  std::string since_at = since_time.value_or("");
  if (!since_time) {
    auto found = (*store)->FindCommit(config.since);
    if (!found) return fail(kDiagHarnessFailed, found.error().message);
    if (found->commits.empty())
      return fail(kDiagUsage,
                  fmt::format("no run of commit {} in {}: ingest its reports first", config.since, config.db));
    if (found->commits.size() > 1)
      return fail(kDiagUsage, fmt::format("commit {} is ambiguous in the history ({}, {}, ...): give more of it",
                                          config.since, found->commits[0], found->commits[1]));
    since_at = found->first_at;
  }
  auto counts = (*store)->CountAround(config.selector, {config.variant, config.branch}, since_at);
  if (!counts) return fail(kDiagHarnessFailed, counts.error().message);
  const RecurrenceCheck check = CheckRecurrence(counts->first, counts->second, config.confidence);
  std::string what =
      (config.selector.kind == RecurrenceSelector::Kind::kOutcome ? "outcome " : "") + config.selector.name;
  if (config.variant) what += " in " + *config.variant;
  if (config.branch) what += " on " + *config.branch;
  fmt::print("{}\n", RecurrenceSentence(check, what, config.since));
  switch (check.verdict) {
    case RecurrenceVerdict::kStopped: return kHistoryStopped;
    case RecurrenceVerdict::kStillRecurring: return kHistoryStillRecurring;
    case RecurrenceVerdict::kNotEnoughEvidence: break;
  }
  return kHistoryNotEnoughEvidence;
}

}  // namespace coder::harness
