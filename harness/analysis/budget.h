#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "harness/analysis/run_record.h"

namespace coder::harness {

/// One run laid on the experiment's clock (ms since the experiment started).
struct TargetTimeline {
  double launch_ms = 0;
  std::optional<double> signal_ms;  ///< when the stop signal was sent; none if it never was
  double exit_ms = 0;
  std::vector<RssPoint> samples;  ///< t_ms on the experiment clock, ascending
};

/// Builds timelines from finished run records: launch_ms + the run's relative signal_ms, exit_ms and
/// rss_timeline times. Runs without launch_ms or exit_ms are skipped; the others keep their order.
/// Samples are sorted by time (stably, so of equal times the later-recorded one still wins). Pure.
std::vector<TargetTimeline> TimelinesFromRuns(const std::vector<RunRecord>& runs);
/// The timeline of one run; nullopt without launch_ms or exit_ms.
std::optional<TargetTimeline> TimelineOf(const RunRecord& run);

/// The memory a concurrent schedule of targets held over time (docs/report-schema.md, "budget").
struct BudgetAnalysis {
  uint64_t peak_total_bytes = 0;   ///< max of the summed RSS of live targets
  double peak_total_at_ms = 0;     ///< the first time that peak was reached
  uint64_t peak_tail_bytes = 0;    ///< max of the part held by targets already signalled
  double time_over_budget_ms = 0;  ///< total time the sum was strictly above the budget (0 without one)
  bool over_budget = false;        ///< peak_total_bytes > budget
  double mean_live = 0;            ///< time-average number of live targets over the window
  double arrival_rate_per_s = 0;   ///< launches per second over the window
  double mean_lifetime_ms = 0;     ///< mean exit - launch
  double mean_tail_ms = 0;         ///< mean exit - signal, an unsignalled target counting 0
  double tail_share = 0;           ///< mean_tail_ms / mean_lifetime_ms (0 when lifetimes are 0)
  double window_ms = 0;            ///< first launch to last exit

  /// The state from t_ms until the next point's t_ms (the last point is the end of the window).
  struct Point {
    double t_ms = 0;
    uint64_t total_bytes = 0;
    uint64_t tail_bytes = 0;
    int live = 0;
    bool operator==(const Point&) const = default;
  };
  std::vector<Point> timeline;  ///< change points, ascending, decimated keeping both peaks

  /// Every key of the schema's budget analysis; timeline is [[t_ms, total_bytes, tail_bytes, live], ...].
  nlohmann::json ToJson() const;
};

/// Sums the RSS of every live target over time. A target is live on [launch_ms, exit_ms) (an exit at or
/// before the launch makes it never live, with lifetime 0). While live it contributes its most recent
/// sample at or before t (sample-and-hold); before its first sample, that first sample's value, since a
/// target is resident from its start; with no samples at all, 0 bytes (it still counts as live). The
/// tail part is the contribution of targets at or after their signal_ms.
///
/// Exact on the step function defined by all event times (launches, samples, signals, exits): computed
/// by a sweep over the sorted events, so a peak between grid points is never missed. `timeline` holds
/// one point per change of (total, tail, live) from the first launch to the last exit, which ends at
/// zero; when more than `max_points` (at least 4), it is decimated to at most that many by keeping in
/// each of equal index buckets the point with the largest total, plus the first and last points and
/// the points of the peak total and the peak tail, so both peaks survive exactly. Every other field is
/// computed before decimation. mean_live = (sum of lifetimes) / window_ms; arrival rate = launches /
/// window; so mean_live = arrival_rate_per_s × mean_lifetime_ms / 1000 (Little's law) holds exactly.
/// Without runs, or with a zero window, the rates are 0. Pure function; thread-safe.
BudgetAnalysis AnalyzeBudget(const std::vector<TargetTimeline>& runs, std::optional<uint64_t> budget_bytes,
                             size_t max_points = 2000);

/// The same over timelines held elsewhere (no copy of their samples is made).
BudgetAnalysis AnalyzeBudgetOf(const std::vector<const TargetTimeline*>& runs, std::optional<uint64_t> budget_bytes,
                               size_t max_points = 2000);

/// Keeps at most `max_samples` (at least 3) of `samples`, in order: the first, the last, the largest, and
/// the largest of each of the other slots' equal slices of the rest. Unchanged when there are no more.
void DecimateSamples(std::vector<RssPoint>& samples, size_t max_samples);

/// The same schedule with every target resident at `assume_rss_bytes` for its whole lifetime (launch
/// to exit), its samples ignored: what the suite would hold with processes as heavy as a real test
/// binary. Pure function; thread-safe.
BudgetAnalysis ProjectBudget(const std::vector<TargetTimeline>& runs, uint64_t assume_rss_bytes,
                             std::optional<uint64_t> budget_bytes, size_t max_points = 2000);

BudgetAnalysis ProjectBudgetOf(const std::vector<const TargetTimeline*>& runs, uint64_t assume_rss_bytes,
                               std::optional<uint64_t> budget_bytes, size_t max_points = 2000);

/// The report's `budget` object: {"budget_bytes", "assume_rss_bytes", "measured", "projected"}, an
/// absent value as null.
nlohmann::json BudgetJson(std::optional<uint64_t> budget, std::optional<uint64_t> assume,
                          const BudgetAnalysis& measured, const std::optional<BudgetAnalysis>& projected);

}  // namespace coder::harness
