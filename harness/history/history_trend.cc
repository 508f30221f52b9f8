#include "harness/history/history_trend.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <unordered_map>

#include "common/terminal_text.h"
#include "harness/analysis/stats.h"
#include "harness/report/report.h"
#include "harness/report/text_table.h"

namespace coder::harness {
namespace {

std::string BucketKey(const StoredRun& run, TrendBy by) {
  switch (by) {
    case TrendBy::kCommit: return run.commit;
    case TrendBy::kDay: return run.at.substr(0, 10);
    case TrendBy::kRunner: return run.runner;
  }
  return {};
}

// More columns would not fit a terminal; --fingerprint names any other.
constexpr size_t kMostFingerprintsShown = 4;

// A bucket while runs are added to it.
struct BucketTally {
  TrendBucket bucket;
  std::map<std::string, uint64_t> outcomes;
  std::vector<double> latencies;
  std::vector<uint64_t> hits;  // per Trend::fingerprints
};

// The fingerprints a trend shows: those asked for, else every one the window matched, most runs first
// (then by name, so the order stays from one call to the next).
std::vector<std::string> ShownFingerprints(const RunWindow& window, const TrendOptions& options, size_t& others) {
  others = 0;
  if (!options.fingerprints.empty()) {
    // A name given twice is one column: the second would never be counted.
    std::vector<std::string> names;
    for (const std::string& name : options.fingerprints)
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    return names;
  }
  std::map<std::string, uint64_t> counts;
  for (const StoredFingerprint& f : window.fingerprints) ++counts[f.fingerprint];
  std::vector<std::pair<std::string, uint64_t>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> names;
  for (auto& [name, n] : sorted) names.push_back(name);
  if (names.size() > kMostFingerprintsShown) {
    others = names.size() - kMostFingerprintsShown;
    names.resize(kMostFingerprintsShown);
  }
  return names;
}

TrendBucket Finish(BucketTally& tally, double confidence) {
  TrendBucket bucket = std::move(tally.bucket);
  for (Outcome outcome : kAllOutcomes) {
    auto it = tally.outcomes.find(std::string(ToString(outcome)));
    if (it != tally.outcomes.end()) bucket.outcomes.emplace_back(it->first, it->second);
  }
  for (uint64_t hits : tally.hits) {
    const Proportion count{hits, bucket.runs};
    bucket.rates.push_back({count, ClopperPearson(count, confidence)});
  }
  if (!tally.latencies.empty()) {
    const Distribution latency = Summarize(std::move(tally.latencies));
    bucket.latency_p50_ms = latency.p50;
    bucket.latency_p95_ms = latency.p95;
  }
  return bucket;
}

}  // namespace

std::string_view ToString(TrendBy by) {
  switch (by) {
    case TrendBy::kCommit: return "commit";
    case TrendBy::kDay: return "day";
    case TrendBy::kRunner: return "runner";
  }
  return "?";
}

std::optional<TrendBy> TrendByFromString(std::string_view text) {
  for (TrendBy by : {TrendBy::kCommit, TrendBy::kDay, TrendBy::kRunner})
    if (ToString(by) == text) return by;
  return std::nullopt;
}

Trend BuildTrend(const RunWindow& window, const TrendOptions& options) {
  Trend trend;
  trend.by = options.by;
  trend.confidence = options.confidence;
  trend.fingerprints = ShownFingerprints(window, options, trend.other_fingerprints);

  std::unordered_map<std::string, size_t> fingerprint_index;
  for (size_t i = 0; i < trend.fingerprints.size(); ++i) fingerprint_index.emplace(trend.fingerprints[i], i);
  std::unordered_map<int64_t, std::vector<size_t>> run_hits;  // run id → its shown fingerprints
  for (const StoredFingerprint& f : window.fingerprints)
    if (auto it = fingerprint_index.find(f.fingerprint); it != fingerprint_index.end())
      run_hits[f.run_id].push_back(it->second);

  // The window is ordered by time, so buckets are created in the order of their first run.
  std::vector<BucketTally> tallies;
  std::unordered_map<std::string, size_t> by_key;
  for (const StoredRun& run : window.runs) {
    std::string key = BucketKey(run, options.by);
    auto [it, created] = by_key.try_emplace(key, tallies.size());
    if (created) {
      BucketTally& fresh = tallies.emplace_back();
      fresh.bucket.key = std::move(key);
      fresh.bucket.first_at = run.at;
      fresh.hits.assign(trend.fingerprints.size(), 0);
    }
    BucketTally& tally = tallies[it->second];
    TrendBucket& bucket = tally.bucket;
    ++bucket.runs;
    bucket.last_at = std::max(bucket.last_at, run.at);
    bucket.peak_rss_bytes = std::max(bucket.peak_rss_bytes, run.peak_rss_bytes);
    ++tally.outcomes[run.outcome];
    if (run.latency_ms) tally.latencies.push_back(*run.latency_ms);
    if (auto hits = run_hits.find(run.id); hits != run_hits.end())
      for (size_t i : hits->second) ++tally.hits[i];
  }
  // The latest buckets are those whose runs came last, as StartOfLatestBuckets picks them: a commit whose
  // first run was early but which ran again last is among them (and whole in the window it started).
  std::vector<bool> shown(tallies.size(), true);
  if (options.last > 0 && tallies.size() > options.last) {
    std::vector<size_t> order(tallies.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return tallies[a].bucket.last_at > tallies[b].bucket.last_at; });
    for (size_t i = options.last; i < order.size(); ++i) shown[order[i]] = false;
    trend.earlier_buckets = tallies.size() - options.last;
  }
  trend.runs = 0;
  for (size_t i = 0; i < tallies.size(); ++i) {
    if (!shown[i]) continue;
    trend.runs += tallies[i].bucket.runs;
    trend.buckets.push_back(Finish(tallies[i], options.confidence));
  }
  return trend;
}

namespace {

std::string ShownKey(const TrendBucket& bucket, TrendBy by) {
  if (bucket.key.empty()) return "(unknown)";
  // A commit's first 12 digits name it in any repository of a reasonable size.
  if (by == TrendBy::kCommit) return bucket.key.substr(0, 12);
  return bucket.key;
}

std::string OutcomeCells(const TrendBucket& bucket) {
  std::string text;
  for (const auto& [outcome, n] : bucket.outcomes) text += fmt::format("{}{} {}", text.empty() ? "" : ", ", n, outcome);
  return text.empty() ? "-" : text;
}

std::string RateCell(const BucketRate& rate) {
  if (rate.count.runs == 0) return "-";
  return fmt::format("{}/{} {} [{}, {}]", rate.count.hits, rate.count.runs, FormatRate(rate.count.rate()),
                     FormatRate(rate.interval.lower), FormatRate(rate.interval.upper));
}

std::string OptionalMs(const std::optional<double>& ms) { return ms ? FormatMs(*ms) : "-"; }

}  // namespace

std::string RenderTrendTable(const Trend& trend) {
  const bool cut = trend.earlier_buckets > 0 || trend.earlier_not_read;
  std::string out =
      fmt::format("{} run{} {}{}, by {}", trend.runs, trend.runs == 1 ? "" : "s",
                  cut ? fmt::format("of the latest {} {}s ", trend.buckets.size(), ToString(trend.by)) : "",
                  trend.since.empty() ? "in the history" : "since " + trend.since, ToString(trend.by));
  if (trend.earlier_not_read) out += fmt::format(" (earlier {}s left out: --last 0 shows all)", ToString(trend.by));
  else if (trend.earlier_buckets > 0)
    out += fmt::format(" ({} earlier left out: --last 0 shows all)", trend.earlier_buckets);
  if (!trend.fingerprints.empty())
    out += fmt::format("; rates with their {:g}% Clopper-Pearson interval", trend.confidence * 100);
  if (trend.other_fingerprints > 0)
    out += fmt::format(" ({} more fingerprint{}: --fingerprint NAME)", trend.other_fingerprints,
                       trend.other_fingerprints == 1 ? "" : "s");
  out += ":\n";
  if (trend.buckets.empty()) return out + "  no runs\n";
  std::vector<TableColumn> columns{{std::string(ToString(trend.by))}, {"first run"}, {"runs", true}, {"outcomes"}};
  // A fingerprint's name comes from a report: as safe as the cells (TextTable makes those safe).
  for (const std::string& name : trend.fingerprints) columns.push_back({TerminalSafe(name)});
  for (std::string header : {"p50", "p95"}) columns.push_back({header, true, "latency"});
  columns.push_back({"peak RSS", true});
  TextTable table(std::move(columns));
  for (const TrendBucket& bucket : trend.buckets) {
    std::vector<std::string> row{ShownKey(bucket, trend.by), bucket.first_at.substr(0, 16), std::to_string(bucket.runs),
                                 OutcomeCells(bucket)};
    for (const BucketRate& rate : bucket.rates) row.push_back(RateCell(rate));
    row.push_back(OptionalMs(bucket.latency_p50_ms));
    row.push_back(OptionalMs(bucket.latency_p95_ms));
    row.push_back(bucket.peak_rss_bytes > 0 ? FormatBytes(static_cast<uint64_t>(bucket.peak_rss_bytes)) : "-");
    table.AddRow(std::move(row));
  }
  return out + table.Render("  ");
}

nlohmann::json TrendToJson(const Trend& trend) {
  nlohmann::json buckets = nlohmann::json::array();
  for (const TrendBucket& bucket : trend.buckets) {
    nlohmann::json outcomes = nlohmann::json::object();
    for (const auto& [outcome, n] : bucket.outcomes) outcomes[outcome] = n;
    nlohmann::json rates = nlohmann::json::object();
    for (size_t i = 0; i < bucket.rates.size(); ++i) {
      const BucketRate& rate = bucket.rates[i];
      rates[trend.fingerprints[i]] = {{"hits", rate.count.hits},
                                      {"runs", rate.count.runs},
                                      {"rate", rate.count.rate()},
                                      {"lower", rate.interval.lower},
                                      {"upper", rate.interval.upper}};
    }
    auto optional = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
    buckets.push_back({{"key", bucket.key},
                       {"first_at", bucket.first_at},
                       {"last_at", bucket.last_at},
                       {"runs", bucket.runs},
                       {"outcomes", std::move(outcomes)},
                       {"fingerprints", std::move(rates)},
                       {"latency_p50_ms", optional(bucket.latency_p50_ms)},
                       {"latency_p95_ms", optional(bucket.latency_p95_ms)},
                       {"peak_rss_bytes", bucket.peak_rss_bytes}});
  }
  return {{"schema", "coder.diag.history.trend/v1"},
          {"by", ToString(trend.by)},
          {"since", trend.since.empty() ? nlohmann::json(nullptr) : nlohmann::json(trend.since)},
          {"confidence", trend.confidence},
          {"runs", trend.runs},
          {"fingerprints", trend.fingerprints},
          {"other_fingerprints", trend.other_fingerprints},
          {"earlier_buckets", trend.earlier_not_read ? nlohmann::json(nullptr) : nlohmann::json(trend.earlier_buckets)},
          {"buckets", std::move(buckets)}};
}

}  // namespace coder::harness
