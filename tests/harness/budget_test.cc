#include "harness/analysis/budget.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/size.h"

namespace coder::harness {
namespace {

using nlohmann::json;
using Point = BudgetAnalysis::Point;

TargetTimeline Target(double launch, std::optional<double> signal, double exit, std::vector<RssPoint> samples = {}) {
  TargetTimeline t;
  t.launch_ms = launch;
  t.signal_ms = signal;
  t.exit_ms = exit;
  t.samples = std::move(samples);
  return t;
}

// The time-average of `live` over the timeline's span: the step function read back from its points.
double MeanLiveFromTimeline(const BudgetAnalysis& a) {
  double integral = 0;
  for (size_t i = 0; i + 1 < a.timeline.size(); ++i)
    integral += a.timeline[i].live * (a.timeline[i + 1].t_ms - a.timeline[i].t_ms);
  return integral / a.window_ms;
}

TEST(BudgetTest, TwoOverlappingTargetsAddUp) {
  const auto a =
      AnalyzeBudget({Target(0, std::nullopt, 100, {{0, 10}}), Target(50, std::nullopt, 150, {{50, 20}})}, std::nullopt);
  EXPECT_EQ(a.timeline, (std::vector<Point>{{0, 10, 0, 1}, {50, 30, 0, 2}, {100, 20, 0, 1}, {150, 0, 0, 0}}));
  EXPECT_EQ(a.peak_total_bytes, 30u);
  EXPECT_EQ(a.peak_total_at_ms, 50);
  EXPECT_EQ(a.peak_tail_bytes, 0u);
  EXPECT_EQ(a.window_ms, 150);
  EXPECT_DOUBLE_EQ(a.mean_live, 200.0 / 150.0);
  EXPECT_DOUBLE_EQ(a.arrival_rate_per_s, 2 / 0.150);
  EXPECT_EQ(a.mean_lifetime_ms, 100);
  EXPECT_EQ(a.mean_tail_ms, 0);
  EXPECT_EQ(a.tail_share, 0);
  EXPECT_EQ(a.time_over_budget_ms, 0);
  EXPECT_FALSE(a.over_budget);
}

TEST(BudgetTest, AGapBetweenTargetsHoldsNothing) {
  const auto a =
      AnalyzeBudget({Target(0, std::nullopt, 10, {{0, 5}}), Target(20, std::nullopt, 30, {{20, 7}})}, uint64_t{6});
  EXPECT_EQ(a.timeline, (std::vector<Point>{{0, 5, 0, 1}, {10, 0, 0, 0}, {20, 7, 0, 1}, {30, 0, 0, 0}}));
  EXPECT_EQ(a.peak_total_bytes, 7u);
  EXPECT_EQ(a.peak_total_at_ms, 20);
  EXPECT_DOUBLE_EQ(a.mean_live, 20.0 / 30.0);
  EXPECT_EQ(a.time_over_budget_ms, 10);
  EXPECT_TRUE(a.over_budget);
}

TEST(BudgetTest, SamplesAtOddTimesAreHeldUntilTheNextAndTheFirstCoversTheStart) {
  // A's first sample comes 2.5 ms after its launch: it is resident from the start, at that value.
  // B was sampled before its launch instant on the shared clock and once after its exit: the first
  // holds from the launch, the last is never counted.
  const auto a = AnalyzeBudget({Target(0, std::nullopt, 10, {{2.5, 100}, {7.25, 300}}),
                                Target(20, std::nullopt, 30, {{15, 50}, {25.125, 80}, {35, 999}})},
                               uint64_t{60});
  EXPECT_EQ(a.timeline,
            (std::vector<Point>{
                {0, 100, 0, 1}, {7.25, 300, 0, 1}, {10, 0, 0, 0}, {20, 50, 0, 1}, {25.125, 80, 0, 1}, {30, 0, 0, 0}}));
  EXPECT_EQ(a.peak_total_bytes, 300u);
  EXPECT_EQ(a.peak_total_at_ms, 7.25);
  EXPECT_DOUBLE_EQ(a.time_over_budget_ms, 10 + (30 - 25.125));
}

TEST(BudgetTest, ATargetWithNoSamplesIsLiveButHoldsNothing) {
  const auto a = AnalyzeBudget({Target(0, 3, 10), Target(5, std::nullopt, 15, {{5, 40}})}, std::nullopt);
  EXPECT_EQ(a.timeline, (std::vector<Point>{{0, 0, 0, 1}, {5, 40, 0, 2}, {10, 40, 0, 1}, {15, 0, 0, 0}}));
  EXPECT_EQ(a.peak_total_bytes, 40u);
  EXPECT_EQ(a.peak_tail_bytes, 0u);
  EXPECT_DOUBLE_EQ(a.mean_live, 20.0 / 15.0);
}

TEST(BudgetTest, ATailStartsAtTheSignalMidLife) {
  const auto a =
      AnalyzeBudget({Target(0, 60, 100, {{0, 10}, {80, 30}}), Target(70, std::nullopt, 90, {{70, 5}})}, std::nullopt);
  EXPECT_EQ(a.timeline,
            (std::vector<Point>{
                {0, 10, 0, 1}, {60, 10, 10, 1}, {70, 15, 10, 2}, {80, 35, 30, 2}, {90, 30, 30, 1}, {100, 0, 0, 0}}));
  EXPECT_EQ(a.peak_total_bytes, 35u);
  EXPECT_EQ(a.peak_total_at_ms, 80);
  EXPECT_EQ(a.peak_tail_bytes, 30u);
  EXPECT_EQ(a.mean_lifetime_ms, 60);  // (100 + 20) / 2
  EXPECT_EQ(a.mean_tail_ms, 20);      // (40 + 0) / 2: the unsignalled target has no tail
  EXPECT_DOUBLE_EQ(a.tail_share, 1.0 / 3.0);
}

TEST(BudgetTest, SimultaneousEventsAreAppliedTogether) {
  // B launches the instant A exits, and A's signal, sample and exit coincide with other events: the
  // timeline never shows a transient state inside one instant.
  const auto a = AnalyzeBudget({Target(0, 10, 10, {{0, 8}, {10, 1000}}), Target(10, 10, 20, {{10, 8}})}, std::nullopt);
  EXPECT_EQ(a.timeline, (std::vector<Point>{{0, 8, 0, 1}, {10, 8, 8, 1}, {20, 0, 0, 0}}));
  EXPECT_EQ(a.peak_total_bytes, 8u);
  EXPECT_EQ(a.peak_total_at_ms, 0);
  EXPECT_EQ(a.peak_tail_bytes, 8u);
}

TEST(BudgetTest, AZeroLifetimeTargetCountsAsALaunchButIsNeverLive) {
  const auto a =
      AnalyzeBudget({Target(0, std::nullopt, 0, {{0, 1000}}), Target(10, std::nullopt, 20, {{10, 3}})}, std::nullopt);
  EXPECT_EQ(a.timeline, (std::vector<Point>{{0, 0, 0, 0}, {10, 3, 0, 1}, {20, 0, 0, 0}}));
  EXPECT_EQ(a.peak_total_bytes, 3u);
  EXPECT_EQ(a.window_ms, 20);
  EXPECT_EQ(a.mean_lifetime_ms, 5);
  EXPECT_DOUBLE_EQ(a.arrival_rate_per_s, 100);
}

TEST(BudgetTest, NoTargetsGiveAnEmptyAnalysis) {
  const auto a = AnalyzeBudget({}, uint64_t{1});
  EXPECT_EQ(a.peak_total_bytes, 0u);
  EXPECT_EQ(a.window_ms, 0);
  EXPECT_EQ(a.mean_live, 0);
  EXPECT_EQ(a.arrival_rate_per_s, 0);
  EXPECT_FALSE(a.over_budget);
  EXPECT_TRUE(a.timeline.empty());
}

TEST(BudgetTest, TimeOverBudgetIsExactAndStrict) {
  const std::vector<TargetTimeline> runs = {Target(0, std::nullopt, 100, {{0, 10}}),
                                            Target(30.25, std::nullopt, 60.5, {{30.25, 10}})};
  const auto over = AnalyzeBudget(runs, uint64_t{19});
  EXPECT_EQ(over.time_over_budget_ms, 60.5 - 30.25);
  EXPECT_TRUE(over.over_budget);
  const auto at = AnalyzeBudget(runs, uint64_t{20});  // reaching the budget is not exceeding it
  EXPECT_EQ(at.time_over_budget_ms, 0);
  EXPECT_FALSE(at.over_budget);
  const auto low = AnalyzeBudget(runs, uint64_t{9});
  EXPECT_EQ(low.time_over_budget_ms, 100);
  const auto none = AnalyzeBudget(runs, std::nullopt);
  EXPECT_EQ(none.time_over_budget_ms, 0);
  EXPECT_FALSE(none.over_budget);
}

TEST(BudgetTest, DecimationKeepsBothPeaksExactly) {
  // A oscillates between 0 and 1 MB; B is in its tail from launch and spikes once while A is at 0, so
  // the tail peak is not where the total is largest in its neighbourhood. A's own spike is the total peak.
  std::vector<RssPoint> a_samples, b_samples;
  for (int i = 0; i < 10'000; ++i) a_samples.push_back({i + 0.5, i == 4321 ? 50'000'000u : (i % 2) * 1'000'000u});
  for (int i = 0; i < 10'000; ++i) b_samples.push_back({i + 0.75, i == 7776 ? 700'000u : 1'000u});
  const std::vector<TargetTimeline> runs = {Target(0, std::nullopt, 10'000, a_samples),
                                            Target(0, 0, 10'000, b_samples)};
  const auto full = AnalyzeBudget(runs, std::nullopt, 1'000'000);
  ASSERT_GT(full.timeline.size(), 10'000u);  // A changes at every sample
  EXPECT_EQ(full.peak_total_bytes, 50'001'000u);
  EXPECT_EQ(full.peak_total_at_ms, 4321.5);
  EXPECT_EQ(full.peak_tail_bytes, 700'000u);

  for (size_t max_points : {size_t{100}, size_t{5}, size_t{1}}) {
    const auto small = AnalyzeBudget(runs, std::nullopt, max_points);
    EXPECT_LE(small.timeline.size(), std::max<size_t>(max_points, 4)) << max_points;
    EXPECT_EQ(small.peak_total_bytes, full.peak_total_bytes);
    EXPECT_EQ(small.peak_tail_bytes, full.peak_tail_bytes);
    EXPECT_EQ(small.mean_live, full.mean_live);
    auto max_of = [&](auto member) {
      uint64_t m = 0;
      for (const Point& p : small.timeline) m = std::max<uint64_t>(m, p.*member);
      return m;
    };
    EXPECT_EQ(max_of(&Point::total_bytes), full.peak_total_bytes) << max_points;
    EXPECT_EQ(max_of(&Point::tail_bytes), full.peak_tail_bytes) << max_points;
    EXPECT_EQ(small.timeline.front(), full.timeline.front());
    EXPECT_EQ(small.timeline.back(), full.timeline.back());
    // Only real change points are kept, in order.
    for (const Point& p : small.timeline)
      EXPECT_NE(std::find(full.timeline.begin(), full.timeline.end(), p), full.timeline.end());
    EXPECT_TRUE(std::is_sorted(small.timeline.begin(), small.timeline.end(),
                               [](const Point& x, const Point& y) { return x.t_ms < y.t_ms; }));
  }
}

TEST(BudgetTest, MeanLiveFollowsLittlesLawOnARegularSchedule) {
  // 40 targets, one launched every 250 ms, each living 1 s: about 4 live at a time.
  std::vector<TargetTimeline> runs;
  for (int i = 0; i < 40; ++i) runs.push_back(Target(i * 250.0, i * 250.0 + 900, i * 250.0 + 1000, {{i * 250.0, 1}}));
  const auto a = AnalyzeBudget(runs, std::nullopt);
  EXPECT_EQ(a.window_ms, 39 * 250.0 + 1000);
  EXPECT_EQ(a.mean_lifetime_ms, 1000);
  EXPECT_DOUBLE_EQ(a.mean_tail_ms, 100);
  EXPECT_DOUBLE_EQ(a.tail_share, 0.1);
  EXPECT_DOUBLE_EQ(a.mean_live, a.arrival_rate_per_s * a.mean_lifetime_ms / 1000);
  EXPECT_DOUBLE_EQ(a.mean_live, 40'000.0 / 10'750.0);
  EXPECT_DOUBLE_EQ(MeanLiveFromTimeline(a), a.mean_live);  // the sweep's step function agrees
  EXPECT_EQ(a.peak_total_bytes, 4u);
  EXPECT_EQ(a.peak_tail_bytes, 1u);
}

// The suite of the issue: test binaries of 7.6GiB on a 17GiB runner, a stop every 5 s, each stop
// followed by a 10 s shutdown tail. Two fit; the tails make three overlap.
TEST(BudgetTest, ProjectionShowsOverlappingTailsExceedTheBudget) {
  const uint64_t assume = *ParseSize("7.6GiB"), budget = *ParseSize("17GiB");
  auto schedule = [](double tail_ms) {
    std::vector<TargetTimeline> runs;
    for (int i = 0; i < 3; ++i) {
      const double launch = i * 5'000.0, signal = launch + 2'000;
      runs.push_back(Target(launch, signal, signal + tail_ms, {{launch, 5u << 20}}));
    }
    return runs;
  };

  const auto with_tails = ProjectBudget(schedule(10'000), assume, budget);
  EXPECT_EQ(with_tails.peak_total_bytes, 3 * assume);
  EXPECT_EQ(with_tails.peak_total_at_ms, 10'000);
  EXPECT_EQ(with_tails.peak_tail_bytes, 2 * assume);
  EXPECT_TRUE(with_tails.over_budget);
  EXPECT_EQ(with_tails.time_over_budget_ms, 2'000);  // [10 s, 12 s): target 0's tail ends at 12 s
  EXPECT_DOUBLE_EQ(with_tails.tail_share, 10'000.0 / 12'000.0);

  const auto measured = AnalyzeBudget(schedule(10'000), budget);
  EXPECT_EQ(measured.peak_total_bytes, 3u * (5u << 20));
  EXPECT_FALSE(measured.over_budget);

  const auto without_tails = ProjectBudget(schedule(1), assume, budget);
  EXPECT_EQ(without_tails.peak_total_bytes, assume);
  EXPECT_FALSE(without_tails.over_budget);
  EXPECT_EQ(without_tails.time_over_budget_ms, 0);
}

TEST(BudgetTest, ProjectionIgnoresSamplesAndCoversTheWholeLife) {
  const auto a = ProjectBudget({Target(0, 5, 10), Target(2, std::nullopt, 4, {{3, 999}})}, 100, std::nullopt);
  EXPECT_EQ(a.timeline,
            (std::vector<Point>{{0, 100, 0, 1}, {2, 200, 0, 2}, {4, 100, 0, 1}, {5, 100, 100, 1}, {10, 0, 0, 0}}));
}

TEST(BudgetTest, TimelinesFromRunsShiftRelativeTimesToTheExperimentClock) {
  RunRecord a;
  a.launch_ms = 1'000;
  a.signal_ms = 40;
  a.exit_ms = 50;
  a.rss_timeline = {{0, 1}, {45, 3}, {20, 2}};
  RunRecord no_launch = a;
  no_launch.launch_ms.reset();
  RunRecord no_exit = a;
  no_exit.exit_ms.reset();
  RunRecord unsignalled = a;
  unsignalled.launch_ms = 2'000;
  unsignalled.signal_ms.reset();

  const auto timelines = TimelinesFromRuns({a, no_launch, no_exit, unsignalled});
  ASSERT_EQ(timelines.size(), 2u);
  EXPECT_EQ(timelines[0].launch_ms, 1'000);
  EXPECT_EQ(timelines[0].signal_ms, 1'040);
  EXPECT_EQ(timelines[0].exit_ms, 1'050);
  EXPECT_EQ(timelines[0].samples, (std::vector<RssPoint>{{1'000, 1}, {1'020, 2}, {1'045, 3}}));
  EXPECT_EQ(timelines[1].launch_ms, 2'000);
  EXPECT_FALSE(timelines[1].signal_ms.has_value());
}

TEST(BudgetTest, JsonHasEverySchemaKey) {
  const auto a = AnalyzeBudget({Target(0, 5, 10, {{0, 7}})}, uint64_t{5});
  const json j = a.ToJson();
  for (const char* key :
       {"peak_total_bytes", "peak_total_at_ms", "peak_tail_bytes", "time_over_budget_ms", "over_budget", "mean_live",
        "arrival_rate_per_s", "mean_lifetime_ms", "mean_tail_ms", "tail_share", "window_ms", "timeline"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["peak_total_bytes"], 7);
  EXPECT_EQ(j["over_budget"], true);
  EXPECT_EQ(j["timeline"], json::parse("[[0.0, 7, 0, 1], [5.0, 7, 7, 1], [10.0, 0, 0, 0]]"));

  const json without = BudgetJson(std::nullopt, std::nullopt, a, std::nullopt);
  EXPECT_TRUE(without["budget_bytes"].is_null());
  EXPECT_TRUE(without["assume_rss_bytes"].is_null());
  EXPECT_TRUE(without["projected"].is_null());
  EXPECT_EQ(without["measured"], j);
  const json with = BudgetJson(uint64_t{18'253'611'008}, uint64_t{8'160'437'862}, a, a);
  EXPECT_EQ(with["budget_bytes"], 18'253'611'008u);
  EXPECT_EQ(with["assume_rss_bytes"], 8'160'437'862u);
  EXPECT_EQ(with["projected"], j);
}

}  // namespace
}  // namespace coder::harness
