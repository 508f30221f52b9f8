#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/analysis/budget.h"
#include "harness/analysis/compare.h"
#include "harness/analysis/gate.h"
#include "harness/analysis/run_record.h"
#include "harness/analysis/stats.h"
#include "harness/analysis/traffic_analysis.h"

namespace coder::harness {

/// What the analyses need of one variant's runs, accumulated run by run so that no run record is kept:
/// per run its outcome and four numbers (about 48 bytes, for exact percentiles and the bootstrap), its
/// RSS timeline for the memory budget, and the findings of runs that were not clean; counts for the
/// rest. Everything is in Add order, which the experiment makes report order. Not thread-safe.
class VariantTally {
 public:
  /// `budget_samples_per_run` caps the RSS samples kept of each run for the memory budget
  /// (DecimateSamples); the default keeps every sample a run record can hold.
  explicit VariantTally(VariantSpec spec, size_t budget_samples_per_run = kRssTimelineMaxPoints)
      : spec_(std::move(spec)), budget_samples_per_run_(budget_samples_per_run) {}

  /// Counts `run`, which must be of this variant (its name is not checked).
  void Add(const RunRecord& run);

  const VariantSpec& spec() const { return spec_; }
  size_t runs() const { return runs_.size(); }
  /// SummarizeVariant's summary of the runs added.
  VariantSummary Summary() const;
  /// Latencies of the runs that have one; a run the watchdog killed is censored.
  std::vector<Sample> Latencies() const;
  /// Share of the runs whose outcome is a timeout fingerprint; 0 without runs.
  double TimeoutRate() const;
  /// Tree peak RSS over the runs that measured it.
  Distribution TreePeakRss() const;
  /// TimelinesFromRuns of the runs added.
  const std::vector<TargetTimeline>& Timelines() const { return timelines_; }
  /// CollectFindings' per-run findings of the runs added (gated as the spec is).
  const std::vector<Finding>& RunFindings() const { return findings_; }
  /// FindFixedTailInRuns of the runs added.
  std::optional<FixedTail> FixedTailOfRuns() const;

 private:
  struct Run {
    Outcome outcome = Outcome::kClean;
    bool watchdog_fired = false;
    std::optional<double> latency_ms;
    std::optional<double> ready_ms;
    uint64_t tree_peak_rss_bytes = 0;
    uint64_t kernel_peak_rss_bytes = 0;
  };
  VariantSpec spec_;
  size_t budget_samples_per_run_;
  std::vector<Run> runs_;
  std::map<std::string, size_t> fingerprints_;
  std::map<std::string, size_t> held_slots_;
  std::map<std::string, double> step_total_ms_;
  size_t runs_with_steps_ = 0;
  std::vector<TargetTimeline> timelines_;
  std::vector<Finding> findings_;
  TrafficTally traffic_;
};

/// CollectFindings' per-run rule: one finding for a run whose outcome is not clean, one per user
/// fingerprint that matched. Appends to `out`.
void AppendRunFindings(const RunRecord& run, bool gated, std::vector<Finding>& out);

/// CollectFindings over tallies: each variant's run findings, then one per variant with a fixed tail,
/// then the experiment's budget and regression findings.
std::vector<Finding> CollectFindings(const std::vector<VariantTally>& variants, const ExperimentFindings& experiment);

/// Compare over tallies (harness/analysis/compare.h).
Comparison Compare(const VariantTally& variant, const VariantTally& baseline, int suite_stops, double regression_ratio,
                   uint64_t seed = 1);

}  // namespace coder::harness
