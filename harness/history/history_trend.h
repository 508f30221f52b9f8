#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/analysis/recurrence.h"
#include "harness/history/history_store.h"

namespace coder::harness {

std::string_view ToString(TrendBy by);
std::optional<TrendBy> TrendByFromString(std::string_view text);

struct TrendOptions {
  TrendBy by = TrendBy::kCommit;
  /// The fingerprints whose rates are shown; empty: those the window's runs matched, the most frequent
  /// first, at most four.
  std::vector<std::string> fingerprints;
  size_t last = 20;  ///< the most buckets shown: those whose runs came last (0: all)
  double confidence = 0.95;
};

/// A fingerprint's rate in one bucket, with its Clopper–Pearson interval.
struct BucketRate {
  Proportion count;
  RateInterval interval;
};

/// One bucket of a trend.
struct TrendBucket {
  std::string key;                ///< the commit, the day (YYYY-MM-DD) or the runner; empty when it was not known
  std::string first_at, last_at;  ///< the bucket's earliest and latest run (canonical UTC)
  uint64_t runs = 0;
  std::vector<std::pair<std::string, uint64_t>> outcomes;  ///< outcome → runs, in kAllOutcomes' order, none 0
  std::vector<BucketRate> rates;                           ///< one per Trend::fingerprints, in its order
  /// Nearest-rank percentiles of the runs that have a latency (Summarize); unset when none has.
  std::optional<double> latency_p50_ms, latency_p95_ms;
  int64_t peak_rss_bytes = 0;  ///< the highest of its runs'
};

/// The trend `coder diag history show` prints and plots: buckets oldest first (by their first run).
struct Trend {
  TrendBy by = TrendBy::kCommit;
  std::string since;  ///< the window's start (canonical UTC); empty: the whole history
  double confidence = 0.95;
  uint64_t runs = 0;                      ///< in the buckets shown
  std::vector<std::string> fingerprints;  ///< whose rates each bucket carries
  size_t other_fingerprints = 0;          ///< matched in the window but not shown (TrendOptions::fingerprints)
  std::vector<TrendBucket> buckets;
  size_t earlier_buckets = 0;  ///< the window's buckets left out by TrendOptions::last
  /// Buckets before these were not read at all (StartOfLatestBuckets), so earlier_buckets does not
  /// count them.
  bool earlier_not_read = false;
};

/// Buckets `window`'s runs and computes each bucket's counts, rates and percentiles. Pure; thread-safe.
Trend BuildTrend(const RunWindow& window, const TrendOptions& options);

/// The trend as a table: a row per bucket (runs, outcomes, each fingerprint's rate with its interval,
/// latency p50 and p95, peak RSS), with a line saying what it covers.
std::string RenderTrendTable(const Trend& trend);

/// The trend as JSON (docs/history.md's `show --json`).
nlohmann::json TrendToJson(const Trend& trend);

}  // namespace coder::harness
