#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/analysis/run_record.h"
#include "harness/analysis/traffic_analysis.h"

namespace coder::harness {

/// Order statistics of one measurement over a set of runs. All zero when n == 0.
struct Distribution {
  size_t n = 0;
  double min = 0, p50 = 0, p95 = 0, p99 = 0, max = 0, mean = 0;
  /// How many of the n values are censored: known only as lower bounds (a run the watchdog killed
  /// stopped no sooner than its recorded latency, but might never have stopped).
  size_t censored = 0;
  /// The statistics that are lower bounds because censored values reach them, in the order
  /// min, p50, p95, p99, max, mean. Empty when censored == 0.
  std::vector<std::string> lower_bounds;

  /// Whether `stat` ("min", "p50", ..., "mean") is a lower bound rather than a measured value.
  bool IsLowerBound(std::string_view stat) const;

  /// {"n", "min", "p50", "p95", "p99", "max", "mean", "censored", "lower_bounds"}; when n == 0 every
  /// statistic is null, so an empty distribution is never mistaken for measured zeros.
  nlohmann::json ToJson() const;
};

/// Summarizes `values` (any order; NaN and infinities are dropped, so n counts the finite ones).
/// Percentiles are nearest-rank: the p-th percentile is the smallest sample such that at least p% of
/// the samples are <= it, i.e. sorted[ceil(p/100 * n) - 1]. Every reported percentile is therefore a
/// value that was actually measured (no interpolation), and with n = 1 all of them are that value.
/// Pure function; thread-safe.
Distribution Summarize(std::vector<double> values);

/// One measured value; `censored` when the true value is only known to be at least `value`.
struct Sample {
  double value = 0;
  bool censored = false;
};

/// Summarize over samples some of which are censored. The statistics are those of the recorded values
/// (as Summarize computes them), and a statistic is a lower bound when the censored values could move
/// it: a percentile of rank k (and min, rank 1) is exact only when at least k uncensored values are
/// <= it, which no censored value's true size can change; max and mean are lower bounds as soon as
/// one value is censored. Pure function; thread-safe.
Distribution SummarizeCensored(std::vector<Sample> samples);

/// Whether the rank-th smallest (1-based) of `samples` is a lower bound: fewer than `rank` uncensored
/// samples are <= the rank-th smallest recorded value. `samples` need not be sorted; rank in [1, n].
bool RankIsLowerBound(const std::vector<Sample>& samples, size_t rank);

/// Shutdown latencies that cluster at one value: the signature of a timeout (something waited until
/// its timer ran out, the same time on every stop).
///
/// The rule, over the runs that have a latency and were not killed by the watchdog (n of them): sort
/// the latencies; a window starts at each latency L >= kFixedTailMinMs and holds every latency in
/// [L, L + max(kFixedTailMinWindowMs, L / 100)]. The largest window wins (ties: the lowest start); it
/// is a fixed tail when it holds at least 2 runs and at least half of the n.
struct FixedTail {
  double ms = 0;      ///< the median (nearest rank) of the latencies in the window
  double low_ms = 0;  ///< the window's smallest and largest latency
  double high_ms = 0;
  double window_ms = 0;  ///< the window's allowed width, max(20 ms, 1% of low_ms)
  size_t runs = 0;       ///< latencies in the window
  size_t of = 0;         ///< the n runs considered
  bool operator==(const FixedTail&) const = default;

  /// "stops cluster at 3.002s (8 of 10 runs within 21.0ms)".
  std::string Describe() const;
  /// {"ms", "low_ms", "high_ms", "window_ms", "runs", "of"}.
  nlohmann::json ToJson() const;
};
inline constexpr double kFixedTailMinMs = 1000;
inline constexpr double kFixedTailMinWindowMs = 20;

/// The fixed tail of `latencies_ms` (the latencies considered, in any order; non-finite ones are
/// dropped), nullopt when there is none. Pure function; thread-safe.
std::optional<FixedTail> FindFixedTail(std::vector<double> latencies_ms);
/// The same over a variant's runs: those with a latency that the watchdog did not kill.
std::optional<FixedTail> FindFixedTailInRuns(const std::vector<RunRecord>& runs);

/// Everything the report says about one variant, computed from its runs alone.
struct VariantSummary {
  std::string variant;
  bool gated = true;
  bool baseline = false;
  /// As in the spec: the built-in server, whose timeout line names the slots it held. Not in ToJson
  /// (the spec has it).
  bool builtin_server = false;
  size_t runs = 0;
  std::map<Outcome, size_t> outcomes;  ///< only outcomes that occurred
  /// Over runs that have a latency (were signalled and exited); a run the watchdog killed is censored
  /// (it would have stopped no sooner than its recorded latency, if at all).
  Distribution latency_ms;
  Distribution ready_ms;                       ///< over runs that became ready
  Distribution tree_peak_rss_bytes;            ///< over runs with a non-zero value (zero means "not measured")
  Distribution kernel_peak_rss_bytes;          ///< likewise
  std::map<std::string, size_t> fingerprints;  ///< fingerprint name -> runs it matched in
  /// The step with the largest mean duration over the runs that reported steps (a step missing from
  /// such a run counts as 0 ms there, so the mean is the step's contribution per run); ms = that mean.
  /// Ties go to the name that sorts first. Absent when no run reported steps.
  std::optional<StepTiming> dominant_step;
  std::map<std::string, size_t> held_slots;  ///< wait-group slot -> runs whose timeout line named it
  size_t findings = 0;                       ///< runs whose outcome is not kClean
  std::optional<FixedTail> fixed_tail;       ///< FindFixedTailInRuns over the variant's runs
  std::optional<TrafficSummary> traffic;     ///< over the runs with --client or --load traffic

  /// See docs/report-schema.md ("Variant summary"). `outcomes` lists every outcome, zeros included.
  nlohmann::json ToJson() const;
};

/// Summarizes one variant. `runs` must be that variant's runs only (their `variant` is not checked).
/// Pure function; thread-safe.
VariantSummary SummarizeVariant(const VariantSpec& spec, const std::vector<RunRecord>& runs);

}  // namespace coder::harness
