#include "harness/stats.h"

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
  EXPECT_EQ(s.outcomes, (std::map<Outcome, size_t>{
                            {Outcome::kTimeoutFingerprint, 3}, {Outcome::kSlow, 1}, {Outcome::kClean, 1}}));
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

}  // namespace
}  // namespace coder::harness
