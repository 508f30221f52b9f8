#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/run_record.h"

namespace coder::harness {

/// Order statistics of one measurement over a set of runs. All zero when n == 0.
struct Distribution {
  size_t n = 0;
  double min = 0, p50 = 0, p95 = 0, p99 = 0, max = 0, mean = 0;

  /// {"n", "min", "p50", "p95", "p99", "max", "mean"}; when n == 0 every statistic is null, so an empty
  /// distribution is never mistaken for measured zeros.
  nlohmann::json ToJson() const;
};

/// Summarizes `values` (any order; NaN and infinities are dropped, so n counts the finite ones).
/// Percentiles are nearest-rank: the p-th percentile is the smallest sample such that at least p% of
/// the samples are <= it, i.e. sorted[ceil(p/100 * n) - 1]. Every reported percentile is therefore a
/// value that was actually measured (no interpolation), and with n = 1 all of them are that value.
/// Pure function; thread-safe.
Distribution Summarize(std::vector<double> values);

/// Everything the report says about one variant, computed from its runs alone.
struct VariantSummary {
  std::string variant;
  bool gated = true;
  bool baseline = false;
  size_t runs = 0;
  std::map<Outcome, size_t> outcomes;  ///< only outcomes that occurred
  Distribution latency_ms;             ///< over runs that have a latency (were signalled and exited)
  Distribution ready_ms;               ///< over runs that became ready
  Distribution tree_peak_rss_bytes;    ///< over runs with a non-zero value (zero means "not measured")
  Distribution kernel_peak_rss_bytes;  ///< likewise
  std::map<std::string, size_t> fingerprints;  ///< fingerprint name -> runs it matched in
  /// The step with the largest mean duration over the runs that reported steps (a step missing from
  /// such a run counts as 0 ms there, so the mean is the step's contribution per run); ms = that mean.
  /// Ties go to the name that sorts first. Absent when no run reported steps.
  std::optional<StepTiming> dominant_step;
  std::map<std::string, size_t> held_slots;  ///< wait-group slot -> runs whose timeout line named it
  size_t findings = 0;                       ///< runs whose outcome is not kClean

  /// See docs/report-schema.md ("Variant summary"). `outcomes` lists every outcome, zeros included.
  nlohmann::json ToJson() const;
};

/// Summarizes one variant. `runs` must be that variant's runs only (their `variant` is not checked).
/// Pure function; thread-safe.
VariantSummary SummarizeVariant(const VariantSpec& spec, const std::vector<RunRecord>& runs);

}  // namespace coder::harness
