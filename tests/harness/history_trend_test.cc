#include "harness/history/history_trend.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace coder::harness {
namespace {

// Builds windows as a store returns them: runs in time order, fingerprints by run id.
class WindowBuilder {
 public:
  WindowBuilder& Run(std::string commit, std::string at, std::string outcome = "clean",
                     std::optional<double> latency_ms = 10.0, std::vector<std::string> fingerprints = {},
                     std::string runner = "r1", int64_t rss = 1000) {
    StoredRun run;
    run.id = next_id_++;
    run.commit = std::move(commit);
    run.at = std::move(at);
    run.outcome = std::move(outcome);
    run.latency_ms = latency_ms;
    run.runner = std::move(runner);
    run.peak_rss_bytes = rss;
    for (std::string& f : fingerprints) window_.fingerprints.push_back({run.id, std::move(f)});
    window_.runs.push_back(std::move(run));
    return *this;
  }
  const RunWindow& window() const { return window_; }

 private:
  RunWindow window_;
  int64_t next_id_ = 1;
};

TEST(HistoryTrendTest, BucketsAreInTheOrderOfTheirFirstRunWithTheirCounts) {
  WindowBuilder b;
  b.Run("bbbb", "2026-12-01T00:00:00.000Z")
      .Run("aaaa", "2026-12-01T01:00:00.000Z", "slow")
      .Run("bbbb", "2026-12-01T02:00:00.000Z", "killed-by-watchdog", 600000.0)
      .Run("aaaa", "2026-12-01T03:00:00.000Z");
  const Trend trend = BuildTrend(b.window(), {});
  ASSERT_EQ(trend.buckets.size(), 2u);
  EXPECT_EQ(trend.runs, 4u);
  EXPECT_EQ(trend.buckets[0].key, "bbbb");
  EXPECT_EQ(trend.buckets[0].first_at, "2026-12-01T00:00:00.000Z");
  EXPECT_EQ(trend.buckets[0].last_at, "2026-12-01T02:00:00.000Z");
  EXPECT_EQ(trend.buckets[0].runs, 2u);
  // Outcomes in kAllOutcomes' order, clean first, none with 0 runs.
  const std::vector<std::pair<std::string, uint64_t>> outcomes{{"clean", 1}, {"killed-by-watchdog", 1}};
  EXPECT_EQ(trend.buckets[0].outcomes, outcomes);
  EXPECT_EQ(trend.buckets[1].key, "aaaa");
  EXPECT_EQ(trend.buckets[1].runs, 2u);
}

TEST(HistoryTrendTest, ByDayTakesTheUtcDateAndByRunnerTheRunner) {
  WindowBuilder b;
  b.Run("a", "2026-12-01T23:59:59.999Z", "clean", 1.0, {}, "linux-1")
      .Run("a", "2026-12-02T00:00:00.000Z", "clean", 1.0, {}, "linux-2")
      .Run("b", "2026-12-02T10:00:00.000Z", "clean", 1.0, {}, "linux-1");
  TrendOptions by_day;
  by_day.by = TrendBy::kDay;
  const Trend days = BuildTrend(b.window(), by_day);
  ASSERT_EQ(days.buckets.size(), 2u);
  EXPECT_EQ(days.buckets[0].key, "2026-12-01");
  EXPECT_EQ(days.buckets[1].key, "2026-12-02");
  EXPECT_EQ(days.buckets[1].runs, 2u);
  TrendOptions by_runner;
  by_runner.by = TrendBy::kRunner;
  const Trend runners = BuildTrend(b.window(), by_runner);
  ASSERT_EQ(runners.buckets.size(), 2u);
  EXPECT_EQ(runners.buckets[0].key, "linux-1");
  EXPECT_EQ(runners.buckets[0].runs, 2u);
}

TEST(HistoryTrendTest, AFingerprintsRateInEachBucketCarriesItsClopperPearsonInterval) {
  WindowBuilder b;
  for (int i = 0; i < 10; ++i)
    b.Run("before", "2026-12-01T00:00:00.000Z", "timeout-fingerprint", 10000.0,
          i < 3 ? std::vector<std::string>{"ws-timeout"} : std::vector<std::string>{});
  for (int i = 0; i < 5; ++i) b.Run("after", "2026-12-02T00:00:00.000Z");
  const Trend trend = BuildTrend(b.window(), {});
  ASSERT_EQ(trend.fingerprints, std::vector<std::string>{"ws-timeout"});
  ASSERT_EQ(trend.buckets.size(), 2u);
  const BucketRate& before = trend.buckets[0].rates.at(0);
  EXPECT_EQ(before.count.hits, 3u);
  EXPECT_EQ(before.count.runs, 10u);
  const RateInterval expected = ClopperPearson({3, 10}, 0.95);
  EXPECT_DOUBLE_EQ(before.interval.lower, expected.lower);
  EXPECT_DOUBLE_EQ(before.interval.upper, expected.upper);
  EXPECT_EQ(trend.buckets[1].rates.at(0).count.hits, 0u);
  EXPECT_EQ(trend.buckets[1].rates.at(0).count.runs, 5u);
}

TEST(HistoryTrendTest, WithoutFingerprintsNamedTheFourMostFrequentAreShownAndTheRestCounted) {
  WindowBuilder b;
  const std::vector<std::pair<std::string, int>> counts{{"e", 1}, {"a", 5}, {"b", 4}, {"c", 3}, {"d", 2}};
  for (const auto& [name, n] : counts)
    for (int i = 0; i < n; ++i) b.Run("x", "2026-12-01T00:00:00.000Z", "clean", 1.0, {name});
  const Trend trend = BuildTrend(b.window(), {});
  EXPECT_EQ(trend.fingerprints, (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(trend.other_fingerprints, 1u);
  TrendOptions named;
  named.fingerprints = {"e", "never-seen"};
  const Trend chosen = BuildTrend(b.window(), named);
  EXPECT_EQ(chosen.fingerprints, (std::vector<std::string>{"e", "never-seen"}));
  EXPECT_EQ(chosen.other_fingerprints, 0u);
  EXPECT_EQ(chosen.buckets.at(0).rates.at(0).count.hits, 1u);
  EXPECT_EQ(chosen.buckets.at(0).rates.at(1).count.hits, 0u);
}

TEST(HistoryTrendTest, LastKeepsTheLatestBucketsAndCountsThoseLeftOut) {
  WindowBuilder b;
  for (int day = 1; day <= 9; ++day) b.Run(fmt::format("c{}", day), fmt::format("2026-12-0{}T00:00:00.000Z", day));
  TrendOptions options;
  options.last = 3;
  const Trend trend = BuildTrend(b.window(), options);
  ASSERT_EQ(trend.buckets.size(), 3u);
  EXPECT_EQ(trend.buckets[0].key, "c7");
  EXPECT_EQ(trend.buckets[2].key, "c9");
  EXPECT_EQ(trend.earlier_buckets, 6u);
  options.last = 0;
  EXPECT_EQ(BuildTrend(b.window(), options).buckets.size(), 9u);
}

TEST(HistoryTrendTest, TheLatestBucketsAreThoseWhoseRunsCameLastAndTheHeadingCountsOnlyTheirs) {
  // C, then A, then C and A again: A ran last. By first run C came first and was once kept instead.
  WindowBuilder b;
  b.Run("cccc", "2026-12-01T00:00:00.000Z")
      .Run("aaaa", "2026-12-01T01:00:00.000Z")
      .Run("cccc", "2026-12-01T02:00:00.000Z")
      .Run("aaaa", "2026-12-01T03:00:00.000Z")
      .Run("aaaa", "2026-12-01T04:00:00.000Z");
  TrendOptions options;
  options.last = 1;
  const Trend trend = BuildTrend(b.window(), options);
  ASSERT_EQ(trend.buckets.size(), 1u);
  EXPECT_EQ(trend.buckets[0].key, "aaaa");
  EXPECT_EQ(trend.buckets[0].runs, 3u);
  EXPECT_EQ(trend.runs, 3u) << "the heading counted the runs of buckets not shown";
  EXPECT_EQ(trend.earlier_buckets, 1u);
  options.fingerprints = {"f", "f"};  // a name given twice was a second column that never counted
  EXPECT_EQ(BuildTrend(b.window(), options).fingerprints, std::vector<std::string>{"f"});
}

TEST(HistoryTrendTest, LatencyPercentilesAreNearestRankOverTheRunsThatHaveOne) {
  WindowBuilder b;
  for (double ms : {5.0, 1.0, 4.0, 2.0, 3.0}) b.Run("x", "2026-12-01T00:00:00.000Z", "clean", ms, {}, "r", 100);
  b.Run("x", "2026-12-01T00:00:01.000Z", "failed-to-start", std::nullopt, {}, "r", 7000);
  const Trend trend = BuildTrend(b.window(), {});
  ASSERT_EQ(trend.buckets.size(), 1u);
  EXPECT_EQ(trend.buckets[0].latency_p50_ms, 3.0);
  EXPECT_EQ(trend.buckets[0].latency_p95_ms, 5.0);
  EXPECT_EQ(trend.buckets[0].peak_rss_bytes, 7000);
  WindowBuilder none;
  none.Run("y", "2026-12-01T00:00:00.000Z", "failed-to-start", std::nullopt);
  EXPECT_FALSE(BuildTrend(none.window(), {}).buckets.at(0).latency_p50_ms);
}

TEST(HistoryTrendTest, TheTableHasARowPerBucketWithRatesAndPercentiles) {
  WindowBuilder b;
  b.Run("0123456789abcdef0123", "2026-12-01T00:00:00.000Z", "timeout-fingerprint", 10004.0, {"ws-timeout"})
      .Run("0123456789abcdef0123", "2026-12-01T00:01:00.000Z")
      .Run("fedcba9876543210fedc", "2026-12-02T00:00:00.000Z", "clean", 101.0);
  Trend trend = BuildTrend(b.window(), {});
  trend.since = "2026-12-01T00:00:00.000Z";
  const std::string table = RenderTrendTable(trend);
  EXPECT_NE(table.find("3 runs since 2026-12-01T00:00:00.000Z, by commit"), std::string::npos) << table;
  EXPECT_NE(table.find("0123456789ab "), std::string::npos) << table;  // a commit cut to 12 digits
  EXPECT_NE(table.find("1/2 50.0% [1.3%, 98.7%]"), std::string::npos) << table;
  EXPECT_NE(table.find("0/1 0% [0%, 97.5%]"), std::string::npos) << table;
  EXPECT_NE(table.find("1 clean, 1 timeout-fingerprint"), std::string::npos) << table;
  EXPECT_NE(table.find("10.004s"), std::string::npos) << table;
  EXPECT_NE(RenderTrendTable(BuildTrend({}, {})).find("no runs"), std::string::npos);
}

TEST(HistoryTrendTest, TheJsonCarriesEveryBucketsNumbers) {
  WindowBuilder b;
  b.Run("aaaa", "2026-12-01T00:00:00.000Z", "slow", 50.0, {"f"});
  const nlohmann::json json = TrendToJson(BuildTrend(b.window(), {}));
  EXPECT_EQ(json["schema"], "coder.diag.history.trend/v1");
  EXPECT_EQ(json["by"], "commit");
  EXPECT_TRUE(json["since"].is_null());
  const nlohmann::json& bucket = json["buckets"].at(0);
  EXPECT_EQ(bucket["key"], "aaaa");
  EXPECT_EQ(bucket["outcomes"]["slow"], 1);
  EXPECT_EQ(bucket["fingerprints"]["f"]["hits"], 1);
  EXPECT_EQ(bucket["latency_p50_ms"], 50.0);
}

}  // namespace
}  // namespace coder::harness
