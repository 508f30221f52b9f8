#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "harness/analysis/run_record.h"
#include "harness/analysis/stats.h"

namespace coder::harness {

/// A ratio with a 95% confidence interval.
struct RatioEstimate {
  /// What `ratio` says when some latencies are censored (runs the watchdog killed).
  enum class Bound {
    kEstimate,       ///< a point estimate: neither quantile is censored
    kLowerBound,     ///< the true ratio is at least `ratio`: the variant's quantile is a lower bound
    kUpperBound,     ///< at most `ratio`: the baseline's quantile is a lower bound
    kIndeterminate,  ///< both are lower bounds: `ratio` (of the recorded values) bounds nothing
  };
  double ratio = 0, ci_low = 0, ci_high = 0;
  std::string method = "bootstrap-percentile";
  Bound bound = Bound::kEstimate;
  /// {"ratio", "ci_low", "ci_high", "method", "bound"} (an infinite value is written as null; bound is
  /// "estimate", "lower_bound", "upper_bound" or "indeterminate").
  nlohmann::json ToJson() const;
};
std::string_view ToString(RatioEstimate::Bound bound);

/// Ratio of the q-quantile (e.g. 0.5, 0.95) of `variant` latencies over the same quantile of
/// `baseline`, with a 95% bootstrap percentile interval. Quantiles are nearest-rank as in stats.h:
/// sorted[ceil(q × n) − 1] (q is taken to 6 decimals, so ceil is exact). The interval: 2000 resamples,
/// each drawing n_variant values from `variant` and then n_baseline from `baseline` with replacement
/// (independently), indices from std::mt19937_64 seeded with `seed` by an unbiased-enough 128-bit
/// multiply (not std::uniform_int_distribution, whose output differs between standard libraries);
/// ci_low and ci_high are the nearest-rank 2.5th and 97.5th percentiles of the 2000 resampled ratios.
/// A resample whose baseline quantile is 0 gives +infinity (1 if the variant's is 0 too). Non-finite
/// inputs are dropped. nullopt when either sample is empty, q is outside (0, 1], or the baseline
/// quantile is 0. Deterministic given the inputs and seed; pure; thread-safe.
std::optional<RatioEstimate> QuantileRatio(const std::vector<double>& variant, const std::vector<double>& baseline,
                                           double q, uint64_t seed = 1);

/// QuantileRatio over samples some of which are censored (the true value is at least the recorded
/// one), with the same draws, so without censored samples the result is QuantileRatio's. A quantile
/// is a lower bound by the rule of RankIsLowerBound (stats.h); `bound` says which side of the ratio
/// that makes `ratio`. The interval stays honest the same way: when a resample's baseline quantile is
/// a lower bound, ci_low is 0 (its lower end is unknown); when a resample's variant quantile is,
/// ci_high is +infinity. A censored resampled quantile moves its ratio only away from the known end,
/// so the other end remains a valid (conservative) 95% bound.
std::optional<RatioEstimate> CensoredQuantileRatio(const std::vector<Sample>& variant,
                                                   const std::vector<Sample>& baseline, double q, uint64_t seed = 1);

/// One variant against the baseline (docs/report-schema.md, "comparisons").
struct Comparison {
  std::string variant, baseline;
  std::optional<RatioEstimate> p50_ratio, p95_ratio;  ///< of shutdown latency, variant / baseline
  double timeout_rate = 0, baseline_timeout_rate = 0;
  std::optional<double> peak_rss_ratio;  ///< p50 tree peak RSS, variant / baseline
  int suite_stops = 0;
  double suite_shutdown_seconds = 0, baseline_suite_shutdown_seconds = 0;
  /// The median behind each suite figure is a lower bound (censored latencies reach it).
  bool suite_shutdown_lower_bound = false, baseline_suite_shutdown_lower_bound = false;
  bool regression = false;
  /// Every key of the schema's comparison; an absent value as null.
  nlohmann::json ToJson() const;
};

/// Compares two variants' runs. Latencies are the runs' latency_ms where present, censored where the
/// watchdog fired. p50_ratio and p95_ratio are CensoredQuantileRatio at 0.5 and 0.95 with `seed`.
/// timeout rate = share of runs whose outcome is kTimeoutFingerprint (0 without runs). peak_rss_ratio =
/// p50 of the non-zero tree_peak_rss_bytes (as the variant summary takes it), variant over baseline;
/// nullopt when either side has none. suite shutdown seconds = suite_stops × median (p50) latency / 1000
/// (0 without latencies), flagged when that median is a lower bound. regression = p95_ratio is an
/// estimate or a lower bound and its ci_low > regression_ratio (a lower bound over the threshold is a
/// regression; an upper or indeterminate one never is). Pure; thread-safe.
Comparison Compare(const std::string& variant, const std::vector<RunRecord>& variant_runs, const std::string& baseline,
                   const std::vector<RunRecord>& baseline_runs, int suite_stops, double regression_ratio,
                   uint64_t seed = 1);

/// What Compare reads of one side's runs.
struct ComparedRuns {
  std::vector<Sample> latencies;  ///< in run order; censored where the watchdog fired
  double timeout_rate = 0;
  Distribution tree_peak_rss;
};
/// Compare on what it reads of each side (the same rules).
Comparison CompareSamples(const std::string& variant, const ComparedRuns& variant_runs, const std::string& baseline,
                          const ComparedRuns& baseline_runs, int suite_stops, double regression_ratio,
                          uint64_t seed = 1);

}  // namespace coder::harness
