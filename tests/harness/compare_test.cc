#include "harness/analysis/compare.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "harness/analysis/stats.h"

namespace coder::harness {
namespace {

using nlohmann::json;

std::vector<double> Spread(double base, double step, int n) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) out.push_back(base + step * ((i * 7) % n));  // not sorted on purpose
  return out;
}

RunRecord Record(std::optional<double> latency_ms, Outcome outcome = Outcome::kClean, uint64_t tree_rss = 0) {
  RunRecord r;
  r.variant = "v";
  r.latency_ms = latency_ms;
  r.outcome = outcome;
  r.tree_peak_rss_bytes = tree_rss;
  return r;
}

TEST(CompareTest, IdenticalSamplesGiveRatioOneWithAnIntervalContainingOne) {
  const auto v = Spread(1.0, 0.25, 30);
  for (double q : {0.5, 0.95}) {
    const auto r = QuantileRatio(v, v, q);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->ratio, 1.0);
    EXPECT_LT(r->ci_low, 1.0);
    EXPECT_GT(r->ci_high, 1.0);
    EXPECT_EQ(r->method, "bootstrap-percentile");
  }
}

TEST(CompareTest, ATenSecondTailAgainstOneMillisecondIsARegression) {
  const auto tail = Spread(10'000, 0.5, 20), quick = Spread(1.0, 0.001, 20);
  const auto r = QuantileRatio(tail, quick, 0.95);
  ASSERT_TRUE(r.has_value());
  EXPECT_NEAR(r->ratio, 10'000, 200);  // 10009 / 1.018
  EXPECT_GT(r->ci_low, 1.0);
  EXPECT_LE(r->ci_low, r->ratio);
  EXPECT_GE(r->ci_high, r->ratio);

  std::vector<RunRecord> tail_runs, quick_runs;
  for (double ms : tail) tail_runs.push_back(Record(ms, Outcome::kTimeoutFingerprint));
  for (double ms : quick) quick_runs.push_back(Record(ms));
  const auto worse = Compare("order=unpatched", tail_runs, "order=patched", quick_runs, 100, 1.5);
  EXPECT_TRUE(worse.regression);
  EXPECT_EQ(worse.timeout_rate, 1.0);
  EXPECT_EQ(worse.baseline_timeout_rate, 0.0);
  // The other way round the ratio is ~1/10000: an improvement, not a regression.
  const auto better = Compare("order=patched", quick_runs, "order=unpatched", tail_runs, 100, 1.5);
  EXPECT_FALSE(better.regression);
  ASSERT_TRUE(better.p95_ratio.has_value());
  EXPECT_LT(better.p95_ratio->ci_high, 1.0);
}

TEST(CompareTest, AnIntervalThatReachesTheThresholdIsNoRegression) {
  // Same distribution: the p95 ratio's lower bound is below 1, so no threshold ≥ 1 flags it.
  std::vector<RunRecord> runs;
  for (double ms : Spread(5, 1, 25)) runs.push_back(Record(ms));
  EXPECT_FALSE(Compare("a", runs, "b", runs, 1, 1.0).regression);
}

TEST(CompareTest, DeterministicGivenTheSeed) {
  std::mt19937_64 data(42);
  std::vector<double> v, b;
  for (int i = 0; i < 50; ++i) v.push_back(static_cast<double>(data() % 10'000) / 100);
  for (int i = 0; i < 40; ++i) b.push_back(static_cast<double>(data() % 10'000) / 100);
  const auto first = QuantileRatio(v, b, 0.95, 7), again = QuantileRatio(v, b, 0.95, 7);
  ASSERT_TRUE(first && again);
  EXPECT_EQ(first->ratio, again->ratio);
  EXPECT_EQ(first->ci_low, again->ci_low);
  EXPECT_EQ(first->ci_high, again->ci_high);
  // The seed moves only the interval, never the point estimate.
  const auto other = QuantileRatio(v, b, 0.95, 8);
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->ratio, first->ratio);
}

TEST(CompareTest, EmptyInputsOrAZeroBaselineGiveNullopt) {
  EXPECT_FALSE(QuantileRatio({}, {1, 2}, 0.5).has_value());
  EXPECT_FALSE(QuantileRatio({1, 2}, {}, 0.5).has_value());
  EXPECT_FALSE(QuantileRatio({1, 2}, {NAN, INFINITY}, 0.5).has_value());
  EXPECT_FALSE(QuantileRatio({1, 2}, {0, 0, 3}, 0.5).has_value());
  EXPECT_FALSE(QuantileRatio({1, 2}, {1, 2}, 0).has_value());
  EXPECT_FALSE(QuantileRatio({1, 2}, {1, 2}, 1.5).has_value());

  const auto c = Compare("a", {}, "b", {Record(std::nullopt, Outcome::kFailedToStart)}, 10, 1.5);
  EXPECT_FALSE(c.p50_ratio.has_value());
  EXPECT_FALSE(c.p95_ratio.has_value());
  EXPECT_FALSE(c.peak_rss_ratio.has_value());
  EXPECT_FALSE(c.regression);
  EXPECT_EQ(c.timeout_rate, 0);
  EXPECT_EQ(c.suite_shutdown_seconds, 0);
  EXPECT_EQ(c.baseline_suite_shutdown_seconds, 0);
}

TEST(CompareTest, QuantilesAreNearestRankLikeTheSummary) {
  for (int n = 1; n <= 60; ++n) {
    const auto v = Spread(3, 1.5, n);
    const Distribution d = Summarize(v);
    EXPECT_EQ(QuantileRatio(v, {1}, 0.5)->ratio, d.p50) << n;
    EXPECT_EQ(QuantileRatio(v, {1}, 0.95)->ratio, d.p95) << n;
    EXPECT_EQ(QuantileRatio({1}, v, 0.95)->ratio, 1 / d.p95) << n;
  }
}

TEST(CompareTest, SingleValuesGiveADegenerateInterval) {
  const auto r = QuantileRatio({5}, {2}, 0.5);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->ratio, 2.5);
  EXPECT_EQ(r->ci_low, 2.5);
  EXPECT_EQ(r->ci_high, 2.5);
  EXPECT_EQ(r->ToJson(), json::parse(R"({"ratio": 2.5, "ci_low": 2.5, "ci_high": 2.5,
                                         "method": "bootstrap-percentile", "bound": "estimate"})"));
}

TEST(CompareTest, AResampledZeroBaselineMakesTheUpperBoundInfiniteAndNullInJson) {
  // The baseline's p95 is 10, but about 30% of resamples draw only zeros.
  const auto r = QuantileRatio({5}, {0, 0, 10}, 0.95);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->ratio, 0.5);
  EXPECT_EQ(r->ci_low, 0.5);
  EXPECT_TRUE(std::isinf(r->ci_high));
  EXPECT_TRUE(r->ToJson()["ci_high"].is_null());
}

TEST(CompareTest, CompareFillsRatesRssAndSuiteShutdownTime) {
  const std::vector<RunRecord> v = {
      Record(10'000, Outcome::kTimeoutFingerprint, 200), Record(10'002, Outcome::kClean, 0),
      Record(10'004, Outcome::kTimeoutFingerprint, 300), Record(std::nullopt, Outcome::kCrashed, 100)};
  const std::vector<RunRecord> b = {Record(2, Outcome::kClean, 100), Record(4, Outcome::kClean, 100)};
  const auto c = Compare("order=unpatched", v, "order=patched", b, 200, 2.0, 3);
  EXPECT_EQ(c.variant, "order=unpatched");
  EXPECT_EQ(c.baseline, "order=patched");
  EXPECT_EQ(c.timeout_rate, 0.5);
  EXPECT_EQ(c.baseline_timeout_rate, 0);
  ASSERT_TRUE(c.peak_rss_ratio.has_value());
  EXPECT_EQ(*c.peak_rss_ratio, 2.0);  // p50 of {100, 200, 300} over p50 of {100, 100}
  EXPECT_EQ(c.suite_stops, 200);
  EXPECT_DOUBLE_EQ(c.suite_shutdown_seconds, 200 * 10'002 / 1000.0);
  EXPECT_DOUBLE_EQ(c.baseline_suite_shutdown_seconds, 200 * 2 / 1000.0);
  ASSERT_TRUE(c.p50_ratio.has_value());
  EXPECT_EQ(c.p50_ratio->ratio, 10'002 / 2.0);
  EXPECT_EQ(c.p95_ratio->ratio, 10'004 / 4.0);
  EXPECT_TRUE(c.regression);
  EXPECT_EQ(c.p95_ratio->ToJson(), QuantileRatio({10'000, 10'002, 10'004}, {2, 4}, 0.95, 3)->ToJson());

  const json j = c.ToJson();
  for (const char* key :
       {"variant", "baseline", "p50_ratio", "p95_ratio", "timeout_rate", "baseline_timeout_rate", "peak_rss_ratio",
        "suite_stops", "suite_shutdown_seconds", "baseline_suite_shutdown_seconds", "regression"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["p95_ratio"]["method"], "bootstrap-percentile");
  EXPECT_EQ(j["regression"], true);
  EXPECT_EQ(j["suite_stops"], 200);

  const json empty = Compare("a", {}, "b", {}, 0, 1.5).ToJson();
  EXPECT_TRUE(empty["p50_ratio"].is_null());
  EXPECT_TRUE(empty["p95_ratio"].is_null());
  EXPECT_TRUE(empty["peak_rss_ratio"].is_null());
}

// ---- censoring: latencies of runs the watchdog killed are lower bounds ----

std::vector<Sample> Samples(const std::vector<double>& values, bool censored = false) {
  std::vector<Sample> out;
  for (double v : values) out.push_back({v, censored});
  return out;
}

std::vector<Sample> Join(std::vector<Sample> a, const std::vector<Sample>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(CensoredCompareTest, WithoutCensoredValuesItIsQuantileRatio) {
  const auto v = Spread(30, 1.5, 25), b = Spread(10, 0.5, 20);
  for (double q : {0.5, 0.95}) {
    const auto plain = QuantileRatio(v, b, q, 5), censored = CensoredQuantileRatio(Samples(v), Samples(b), q, 5);
    ASSERT_TRUE(plain && censored);
    EXPECT_EQ(censored->ratio, plain->ratio);
    EXPECT_EQ(censored->ci_low, plain->ci_low);
    EXPECT_EQ(censored->ci_high, plain->ci_high);
    EXPECT_EQ(censored->bound, RatioEstimate::Bound::kEstimate);
  }
}

TEST(CensoredCompareTest, ACensoredVariantQuantileMakesTheRatioALowerBoundAndStillARegression) {
  // Half the variant's runs hung until the watchdog killed them at 1 s; the baseline stops in ~100 ms.
  const auto variant = Join(Samples(Spread(50, 1, 10)), Samples(Spread(1'003, 0.5, 10), /*censored=*/true));
  const auto baseline = Samples(Spread(100, 1, 20));
  const auto r = CensoredQuantileRatio(variant, baseline, 0.95);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bound, RatioEstimate::Bound::kLowerBound);
  EXPECT_GT(r->ratio, 8);
  EXPECT_GT(r->ci_low, 8);
  EXPECT_TRUE(std::isinf(r->ci_high));  // nothing bounds a hang from above
  EXPECT_EQ(r->ToJson()["bound"], "lower_bound");
  EXPECT_TRUE(r->ToJson()["ci_high"].is_null());

  std::vector<RunRecord> hung, quick;
  for (const Sample& s : variant) {
    hung.push_back(Record(s.value, s.censored ? Outcome::kKilledByWatchdog : Outcome::kClean));
    hung.back().watchdog_fired = s.censored;
  }
  for (const Sample& s : baseline) quick.push_back(Record(s.value));
  const Comparison c = Compare("new", hung, "old", quick, 10, 2.0);
  ASSERT_TRUE(c.p95_ratio);
  EXPECT_EQ(c.p95_ratio->bound, RatioEstimate::Bound::kLowerBound);
  EXPECT_TRUE(c.regression);  // at least 8x is over 2x whatever the hangs would have taken
  // The median is one of the 50 ms stops, so the suite figure is exact; with more hangs it is a bound.
  EXPECT_FALSE(c.suite_shutdown_lower_bound);
  hung.push_back(hung.back());
  EXPECT_TRUE(Compare("new", hung, "old", quick, 10, 2.0).suite_shutdown_lower_bound);
  EXPECT_EQ(c.ToJson()["p95_ratio"]["bound"], "lower_bound");
}

TEST(CensoredCompareTest, ACensoredBaselineQuantileMakesTheRatioAnUpperBoundAndNeverARegression) {
  // The baseline's p95 is a hang killed at 100 ms: the variant's 1 s stops are at most 10x it, maybe
  // far less. A point estimate of 10x (what the comparison said before) would call it a regression.
  const auto variant = Samples(Spread(1'000, 1, 20));
  const auto baseline = Join(Samples(Spread(50, 1, 10)), Samples(Spread(100, 0.1, 10), /*censored=*/true));
  const auto r = CensoredQuantileRatio(variant, baseline, 0.95);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bound, RatioEstimate::Bound::kUpperBound);
  EXPECT_EQ(r->ci_low, 0);  // its lower end is unknown
  EXPECT_TRUE(std::isfinite(r->ci_high));

  std::vector<RunRecord> slow, hung;
  for (const Sample& s : variant) slow.push_back(Record(s.value));
  for (const Sample& s : baseline) {
    hung.push_back(Record(s.value));
    hung.back().watchdog_fired = s.censored;
  }
  const Comparison c = Compare("new", slow, "old", hung, 10, 2.0);
  EXPECT_EQ(c.p95_ratio->bound, RatioEstimate::Bound::kUpperBound);
  EXPECT_FALSE(c.regression);
  EXPECT_FALSE(c.baseline_suite_shutdown_lower_bound);  // the baseline's median is a 50 ms stop
}

TEST(CensoredCompareTest, BothCensoredIsIndeterminate) {
  const auto r = CensoredQuantileRatio(Samples({1'000, 1'001}, true), Samples({500, 501}, true), 0.5);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bound, RatioEstimate::Bound::kIndeterminate);
  EXPECT_EQ(r->ToJson()["bound"], "indeterminate");
}

}  // namespace
}  // namespace coder::harness
