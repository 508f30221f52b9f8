#include "harness/analysis/stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace coder::harness {
namespace {

RunRecord MakeRun(Outcome outcome, std::optional<double> latency_ms, uint64_t tree_rss = 0) {
  RunRecord r;
  r.variant = "v";
  r.outcome = outcome;
  r.latency_ms = latency_ms;
  r.tree_peak_rss_bytes = tree_rss;
  return r;
}

TEST(StatsTest, NearestRankPercentilesOfKnownSamples) {
  std::vector<double> hundred;
  for (int i = 1; i <= 100; ++i) hundred.push_back(i);
  std::shuffle(hundred.begin(), hundred.end(), std::mt19937(42));
  const Distribution d = Summarize(hundred);
  EXPECT_EQ(d.n, 100u);
  EXPECT_EQ(d.min, 1);
  EXPECT_EQ(d.p50, 50);
  EXPECT_EQ(d.p95, 95);
  EXPECT_EQ(d.p99, 99);
  EXPECT_EQ(d.max, 100);
  EXPECT_DOUBLE_EQ(d.mean, 50.5);

  // Ten samples: p50 is the 5th (rank ceil(5)), p95 and p99 both round up to the 10th.
  const Distribution ten = Summarize({100, 90, 80, 70, 60, 50, 40, 30, 20, 10});
  EXPECT_EQ(ten.p50, 50);
  EXPECT_EQ(ten.p95, 100);
  EXPECT_EQ(ten.p99, 100);
  EXPECT_DOUBLE_EQ(ten.mean, 55);

  // Twenty samples: p95 is rank 19, the one below the maximum.
  std::vector<double> twenty;
  for (int i = 1; i <= 20; ++i) twenty.push_back(i);
  EXPECT_EQ(Summarize(twenty).p95, 19);
  EXPECT_EQ(Summarize(twenty).p99, 20);
}

TEST(StatsTest, SingleSampleIsEveryStatistic) {
  const Distribution d = Summarize({1.25});
  EXPECT_EQ(d.n, 1u);
  for (double v : {d.min, d.p50, d.p95, d.p99, d.max, d.mean}) EXPECT_EQ(v, 1.25);
}

TEST(StatsTest, EmptyInputIsAllZeroAndSerializesNullStatistics) {
  const Distribution d = Summarize({});
  EXPECT_EQ(d.n, 0u);
  for (double v : {d.min, d.p50, d.p95, d.p99, d.max, d.mean}) EXPECT_EQ(v, 0);
  const nlohmann::json j = d.ToJson();
  EXPECT_EQ(j["n"], 0);
  for (const char* key : {"min", "p50", "p95", "p99", "max", "mean"}) EXPECT_TRUE(j[key].is_null()) << key;
  EXPECT_EQ(Summarize({2.0}).ToJson()["p99"], 2.0);
}

TEST(StatsTest, NonFiniteValuesAreDropped) {
  const Distribution d =
      Summarize({std::numeric_limits<double>::quiet_NaN(), 3, std::numeric_limits<double>::infinity(), 1});
  EXPECT_EQ(d.n, 2u);
  EXPECT_EQ(d.min, 1);
  EXPECT_EQ(d.max, 3);
  EXPECT_EQ(d.mean, 2);
}

TEST(StatsTest, VariantSummaryCountsOutcomesFindingsFingerprintsAndSlots) {
  VariantSpec spec{.name = "gateway=on order=unpatched", .gated = false, .baseline = true};
  std::vector<RunRecord> runs;
  for (int i = 0; i < 3; ++i) {
    RunRecord r = MakeRun(Outcome::kTimeoutFingerprint, 10'004 + i, 9 << 20);
    r.fingerprints = {"websocket-shutdown-timeout", "latency-at-known-timeout"};
    r.held_slots = {"ai-gateway-rpc#1"};
    runs.push_back(r);
  }
  runs.push_back(MakeRun(Outcome::kClean, 1.5, 8 << 20));
  RunRecord slow = MakeRun(Outcome::kSlow, 3000, 8 << 20);
  slow.fingerprints = {"custom", "custom"};  // one run, counted once
  runs.push_back(slow);

  const VariantSummary s = SummarizeVariant(spec, runs);
  EXPECT_EQ(s.variant, "gateway=on order=unpatched");
  EXPECT_FALSE(s.gated);
  EXPECT_TRUE(s.baseline);
  EXPECT_EQ(s.runs, 5u);
  EXPECT_EQ(s.findings, 4u);
  EXPECT_EQ(s.outcomes,
            (std::map<Outcome, size_t>{{Outcome::kTimeoutFingerprint, 3}, {Outcome::kSlow, 1}, {Outcome::kClean, 1}}));
  EXPECT_EQ(s.fingerprints, (std::map<std::string, size_t>{
                                {"websocket-shutdown-timeout", 3}, {"latency-at-known-timeout", 3}, {"custom", 1}}));
  EXPECT_EQ(s.held_slots, (std::map<std::string, size_t>{{"ai-gateway-rpc#1", 3}}));
  EXPECT_EQ(s.latency_ms.n, 5u);
  EXPECT_EQ(s.latency_ms.min, 1.5);
  EXPECT_EQ(s.latency_ms.p50, 10'004);  // rank ceil(2.5) = 3 of {1.5, 3000, 10004, 10005, 10006}
  EXPECT_EQ(s.latency_ms.max, 10'006);

  const nlohmann::json j = s.ToJson();
  EXPECT_EQ(j["outcomes"].size(), std::size(kAllOutcomes));  // zeros included
  EXPECT_EQ(j["outcomes"]["timeout-fingerprint"], 3);
  EXPECT_EQ(j["outcomes"]["crashed"], 0);
  EXPECT_EQ(j["findings"], 4);
  EXPECT_EQ(j["held_slots"]["ai-gateway-rpc#1"], 3);
  EXPECT_TRUE(j["dominant_step"].is_null());
}

TEST(StatsTest, MeasurementsOnlyOverRunsThatHaveThem) {
  std::vector<RunRecord> runs = {MakeRun(Outcome::kFailedToStart, std::nullopt, 0),
                                 MakeRun(Outcome::kNeverReady, std::nullopt, 4096),
                                 MakeRun(Outcome::kClean, 2.0, 8192)};
  runs[2].ready_ms = 40;
  runs[2].kernel_peak_rss_bytes = 1 << 20;
  const VariantSummary s = SummarizeVariant(VariantSpec{.name = "v"}, runs);
  EXPECT_EQ(s.latency_ms.n, 1u);
  EXPECT_EQ(s.latency_ms.p50, 2.0);
  EXPECT_EQ(s.ready_ms.n, 1u);
  EXPECT_EQ(s.ready_ms.p50, 40);
  EXPECT_EQ(s.tree_peak_rss_bytes.n, 2u);  // the run that never started measured nothing
  EXPECT_EQ(s.tree_peak_rss_bytes.min, 4096);
  EXPECT_EQ(s.kernel_peak_rss_bytes.n, 1u);
  EXPECT_EQ(s.findings, 2u);
}

TEST(StatsTest, DominantStepIsTheLargestMeanOverRunsThatReportedSteps) {
  std::vector<RunRecord> runs(3, MakeRun(Outcome::kClean, 1.0));
  runs[0].steps = {{"api-drain", 1.0}, {"websocket-wait", 10'000.0}};
  runs[1].steps = {{"api-drain", 3.0}, {"ai-gateway", 5.0}};
  // runs[2] reported no steps: it is not part of the mean.
  const VariantSummary s = SummarizeVariant(VariantSpec{.name = "v"}, runs);
  ASSERT_TRUE(s.dominant_step.has_value());
  EXPECT_EQ(s.dominant_step->name, "websocket-wait");
  EXPECT_DOUBLE_EQ(s.dominant_step->ms, 5'000.0);  // missing from runs[1], so 0 ms there

  runs[0].steps = {{"api-drain", 2.0}};
  runs[1].steps = {{"ai-gateway", 2.0}};
  const VariantSummary tie = SummarizeVariant(VariantSpec{.name = "v"}, runs);
  ASSERT_TRUE(tie.dominant_step.has_value());
  EXPECT_EQ(tie.dominant_step->name, "ai-gateway");  // 1.0 each: the first name wins
  EXPECT_DOUBLE_EQ(tie.dominant_step->ms, 1.0);
  EXPECT_EQ(tie.ToJson()["dominant_step"], (nlohmann::json{{"name", "ai-gateway"}, {"ms", 1.0}}));
}

TEST(StatsTest, NoRunsGiveAnEmptySummary) {
  const VariantSummary s = SummarizeVariant(VariantSpec{.name = "v"}, {});
  EXPECT_EQ(s.runs, 0u);
  EXPECT_EQ(s.findings, 0u);
  EXPECT_TRUE(s.outcomes.empty());
  EXPECT_EQ(s.latency_ms.n, 0u);
  EXPECT_FALSE(s.dominant_step.has_value());
}

// ---- censoring: a run the watchdog killed has a latency of at least its recorded one ----

TEST(CensoredStatsTest, PercentilesThatCensoredValuesReachAreLowerBounds) {
  // Ten runs, two killed by the watchdog at 8 s: p50 is measured, p95 and up are lower bounds.
  std::vector<Sample> samples;
  for (int i = 1; i <= 8; ++i) samples.push_back({static_cast<double>(i * 10), false});
  samples.push_back({8'004, true});
  samples.push_back({8'002, true});
  const Distribution d = SummarizeCensored(samples);
  EXPECT_EQ(d.n, 10u);
  EXPECT_EQ(d.censored, 2u);
  EXPECT_EQ(d.p50, 50);
  EXPECT_EQ(d.p95, 8'004);
  EXPECT_EQ(d.max, 8'004);
  EXPECT_EQ(d.lower_bounds, (std::vector<std::string>{"p95", "p99", "max", "mean"}));
  EXPECT_FALSE(d.IsLowerBound("p50"));
  EXPECT_FALSE(d.IsLowerBound("min"));
  EXPECT_TRUE(d.IsLowerBound("p95"));
  const nlohmann::json j = d.ToJson();
  EXPECT_EQ(j["censored"], 2);
  EXPECT_EQ(j["lower_bounds"], nlohmann::json::array({"p95", "p99", "max", "mean"}));
}

TEST(CensoredStatsTest, ACensoredValueBelowAPercentileStillMakesItABound) {
  // The censored 5 may truly be anything from 5 up, so even the median (rank 2) is only known from below.
  const Distribution d = SummarizeCensored({{5, true}, {10, false}, {20, false}});
  EXPECT_EQ(d.min, 5);
  EXPECT_EQ(d.p50, 10);
  EXPECT_EQ(d.lower_bounds, (std::vector<std::string>{"min", "p50", "p95", "p99", "max", "mean"}));
  // A tie with measured values settles the low ranks (two measured values are <= 10); the censored 10
  // may truly be above 20, so the maximum is still a bound.
  const Distribution tie = SummarizeCensored({{10, true}, {10, false}, {10, false}, {20, false}});
  EXPECT_FALSE(tie.IsLowerBound("min"));
  EXPECT_FALSE(tie.IsLowerBound("p50"));
  EXPECT_EQ(tie.lower_bounds, (std::vector<std::string>{"p95", "p99", "max", "mean"}));
}

TEST(CensoredStatsTest, AllCensoredMakesEveryStatisticABoundAndNoneCensoredNone) {
  const Distribution all = SummarizeCensored({{1'003, true}, {1'001, true}});
  EXPECT_EQ(all.censored, 2u);
  EXPECT_EQ(all.lower_bounds.size(), 6u);
  const Distribution none = SummarizeCensored({{1, false}, {2, false}});
  EXPECT_EQ(none.censored, 0u);
  EXPECT_TRUE(none.lower_bounds.empty());
  EXPECT_EQ(none.ToJson()["lower_bounds"], nlohmann::json::array());
  EXPECT_EQ(Summarize({}).ToJson()["censored"], 0);
}

TEST(CensoredStatsTest, VariantLatencyCountsWatchdogKillsAsCensored) {
  std::vector<RunRecord> runs = {MakeRun(Outcome::kClean, 12), MakeRun(Outcome::kKilledByWatchdog, 1'004)};
  runs[1].watchdog_fired = true;
  const VariantSummary s = SummarizeVariant(VariantSpec{.name = "v"}, runs);
  EXPECT_EQ(s.latency_ms.censored, 1u);
  EXPECT_TRUE(s.latency_ms.IsLowerBound("max"));
  EXPECT_FALSE(s.latency_ms.IsLowerBound("p50"));  // rank 1 of 2: the measured 12 ms
}

// ---- fixed tails: stops that cluster at one latency of 1 s or more ----

TEST(FixedTailTest, EightOfTenStopsAtThreeSecondsAreAFixedTail) {
  const auto tail = FindFixedTail({3'000, 3'021, 3'002, 3'010, 3'004, 3'001, 3'015, 3'003, 120, 5'000});
  ASSERT_TRUE(tail.has_value());
  EXPECT_EQ(tail->runs, 8u);
  EXPECT_EQ(tail->of, 10u);
  EXPECT_EQ(tail->low_ms, 3'000);
  EXPECT_EQ(tail->high_ms, 3'021);
  EXPECT_EQ(tail->ms, 3'003);  // the median (rank 4 of 8) of the window
  EXPECT_EQ(tail->window_ms, 30);
  EXPECT_EQ(tail->Describe(), "stops cluster at 3.003s (8 of 10 runs within 21.0ms)");
  EXPECT_EQ(
      tail->ToJson(),
      (nlohmann::json{
          {"ms", 3'003.0}, {"low_ms", 3'000.0}, {"high_ms", 3'021.0}, {"window_ms", 30.0}, {"runs", 8}, {"of", 10}}));
}

TEST(FixedTailTest, BelowOneSecondIsNeverAFixedTail) {
  EXPECT_FALSE(FindFixedTail({990, 990, 990, 990}));
  EXPECT_FALSE(FindFixedTail({999.9, 999.9}));
  EXPECT_TRUE(FindFixedTail({1'000, 1'000}));
}

TEST(FixedTailTest, TheWindowIsTwentyMillisecondsOrOnePercentWhicheverIsWider) {
  // At 1 s the 20 ms floor rules.
  EXPECT_TRUE(FindFixedTail({1'000, 1'020}));
  EXPECT_FALSE(FindFixedTail({1'000, 1'020.5}));
  // At 3 s, 1% (30 ms) is wider.
  EXPECT_TRUE(FindFixedTail({3'000, 3'030}));
  EXPECT_FALSE(FindFixedTail({3'000, 3'030.5}));
  // At 60 s, 600 ms.
  EXPECT_TRUE(FindFixedTail({60'000, 60'600}));
  EXPECT_FALSE(FindFixedTail({60'000, 60'601}));
}

TEST(FixedTailTest, OneRunOrLessThanHalfIsNot) {
  EXPECT_FALSE(FindFixedTail({3'000}));
  EXPECT_FALSE(FindFixedTail({}));
  EXPECT_TRUE(FindFixedTail({3'000, 3'001, 10, 20}));         // 2 of 4: half
  EXPECT_FALSE(FindFixedTail({3'000, 3'001, 10, 20, 30}));    // 2 of 5
  EXPECT_FALSE(FindFixedTail({1'000, 1'100, 1'200, 1'300}));  // spread out: no two within 20 ms
}

TEST(FixedTailTest, TheLargestWindowWinsAndTiesGoToTheLowest) {
  const auto larger = FindFixedTail({2'000, 2'001, 5'000, 5'001, 5'002});
  ASSERT_TRUE(larger);
  EXPECT_EQ(larger->runs, 3u);
  EXPECT_EQ(larger->low_ms, 5'000);
  const auto tie = FindFixedTail({2'000, 2'001, 5'000, 5'001});
  ASSERT_TRUE(tie);
  EXPECT_EQ(tie->low_ms, 2'000);
}

TEST(FixedTailTest, WatchdogKillsAreLeftOutOfTheRunsConsidered) {
  std::vector<RunRecord> runs;
  for (int i = 0; i < 3; ++i) {
    runs.push_back(MakeRun(Outcome::kKilledByWatchdog, 1'003 + i));
    runs.back().watchdog_fired = true;  // the watchdog's own delay, not the target's
  }
  runs.push_back(MakeRun(Outcome::kClean, 5));
  EXPECT_FALSE(FindFixedTailInRuns(runs));
  // Two that stopped by themselves at 1.3 s, of the two that did: a fixed tail.
  runs.push_back(MakeRun(Outcome::kClean, 1'300));
  runs.push_back(MakeRun(Outcome::kClean, 1'305));
  const auto tail = FindFixedTailInRuns(runs);
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->of, 3u);
  EXPECT_EQ(tail->runs, 2u);
  runs.push_back(MakeRun(Outcome::kNeverReady, std::nullopt));  // no latency: not considered
  EXPECT_EQ(FindFixedTailInRuns(runs)->of, 3u);

  const VariantSummary s = SummarizeVariant(VariantSpec{.name = "v"}, runs);
  ASSERT_TRUE(s.fixed_tail);
  EXPECT_EQ(s.ToJson()["fixed_tail"]["runs"], 2);
  EXPECT_TRUE(SummarizeVariant(VariantSpec{.name = "v"}, {}).ToJson()["fixed_tail"].is_null());
}

}  // namespace
}  // namespace coder::harness
