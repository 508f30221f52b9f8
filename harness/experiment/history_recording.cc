#include "harness/experiment/history_recording.h"

#include <fmt/format.h>

#include <chrono>

#include "common/time_format.h"
#include "harness/history/history_commands.h"
#include "harness/history/history_ingest.h"

namespace coder::harness {

Status ProbeHistory(const std::string& location) {
  auto store = HistoryStore::Open(location);
  if (!store) return store.error();
  return Ok{};
}

RecordedHistory RecordHistory(const HistoryRecording& recording, const std::string& started_at, const RunSource& runs,
                              const std::vector<std::string>& variants) {
  auto store = HistoryStore::Open(recording.location);
  if (!store) return {std::nullopt, store.error()};
  std::vector<RunRecord> records;
  records.reserve(runs.size());
  // Without what neither the key (RunKey) nor the history holds: a run's whole log, its stacks and
  // traffic can be most of its record, and an experiment's runs stream from disk to keep memory bounded.
  if (auto st = runs.ForEach([&](const RunRecord& run) -> Status {
        RunRecord& kept = records.emplace_back(run);
        kept.log.reset();
        kept.stacks.clear();
        kept.traffic.reset();
        kept.hang.reset();
        return Ok{};
      });
      !st)
    return {std::nullopt, st.error()};
  RunOrigin origin = OriginFromEnvironment({});
  origin.at = CanonicalUtc(started_at).value_or(CanonicalUtc(Rfc3339Utc(std::chrono::system_clock::now())).value());
  auto counts = (*store)->Ingest(origin, records);
  if (!counts) return {std::nullopt, counts.error()};
  RecordedHistory recorded;
  ReportHistory& history = recorded.history.emplace(ReportHistory{
      .location = DisplayLocation(recording.location), .added = counts->added, .already = counts->already});
  if (recording.since.empty()) return recorded;
  const ResolvedSince since = ResolveHistorySince(**store, recording.since, recording.location);
  if (since.code != 0) {
    recorded.error = Error{since.error};
    return recorded;
  }
  for (const RecurrenceSelector& selector : recording.selectors) {
    for (const std::string& variant : variants) {
      auto checked =
          CheckHistory(**store, selector, {variant, std::nullopt}, recording.since, since.at, recording.confidence);
      if (!checked) {
        history.verdicts.clear();  // all or none: a report with some of its verdicts would mislead
        recorded.error = checked.error();
        return recorded;
      }
      history.verdicts.push_back(
          {.selector = selector.kind == RecurrenceSelector::Kind::kOutcome ? "outcome" : "fingerprint",
           .name = selector.name,
           .variant = variant,
           .since = recording.since,
           .since_at = since.at,
           .check = checked->check,
           .sentence = checked->sentence});
    }
  }
  return recorded;
}

}  // namespace coder::harness
