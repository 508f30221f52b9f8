#include "harness/analysis/run_record.h"

#include <gtest/gtest.h>

#include "harness/report/report.h"

namespace coder::harness {
namespace {

using nlohmann::json;

RunRecord FullRecord() {
  RunRecord r;
  r.variant = "gateway=on order=unpatched";
  r.index = 3;
  r.outcome = Outcome::kTimeoutFingerprint;
  r.detail = "websocket shutdown timed out after 10 seconds";
  r.launch_ms = 123'456.789012345;
  r.ready_ms = 41.123456789012345;
  r.signal_ms = 0.1;
  r.exit_ms = 10'045.000000001;
  r.latency_ms = 1e-7;
  r.exit = "exit 0";
  r.exit_code = 0;
  r.exit_signal = -2147483647 - 1;
  r.watchdog_fired = true;
  r.kernel_peak_rss_bytes = uint64_t{1} << 62;
  r.tree_peak_rss_bytes = 18'446'744'073'709'551'615u;
  r.rss_timeline = {{0, 0}, {10.5, 9'961'472}, {10'045.25, 1}};
  r.fingerprints = {"websocket-shutdown-timeout", "latency-at-known-timeout"};
  r.steps = {{"api-drain", 0.089}, {"websocket-wait", 10'000.4}};
  r.held_slots = {"ai-gateway-rpc#1"};
  r.log_tail = {"[info] Shutting down API server...", "caf\xC3\xA9 \"quoted\"\ttab"};
  r.log_lines = 123;
  r.log_dropped_bytes = 4567;
  r.log = RunLog{LogClock::kSignal,
                 {{-41.25, 1, "Started HTTP listener at http://127.0.0.1:40123"}, {0.5, 2, "Stop caught"}},
                 121,
                 4567};
  r.stacks = {{4242, "eu-stack", 10'200.5, "PID 4242 - process\nTID 4242:\n#0  0x00007f00 __poll\n", ""},
              {4243, "gdb", 11'100.25, "", "gdb did not finish within 10000 ms; killed"},
              {4244, "sigquit", 10'190.0, "goroutine 1 [select]:\nmain.main()\n", "", "go", true,
               "main goroutine [select] in main.main"}};
  r.ended_by_dump = true;
  return r;
}

TEST(RunRecordTest, OutcomeNamesRoundTrip) {
  for (Outcome o : kAllOutcomes) EXPECT_EQ(OutcomeFromString(ToString(o)), o) << ToString(o);
  EXPECT_EQ(ToString(Outcome::kKilledByWatchdog), "killed-by-watchdog");
  EXPECT_EQ(ToString(Outcome::kTimeoutFingerprint), "timeout-fingerprint");
  EXPECT_EQ(OutcomeFromString("Clean"), std::nullopt);
  EXPECT_EQ(OutcomeFromString(""), std::nullopt);
}

TEST(RunRecordTest, JsonRoundTripIsExactThroughText) {
  const RunRecord r = FullRecord();
  EXPECT_EQ(RunRecord::FromJson(r.ToJson()), r);
  const auto reparsed = RunRecord::FromJson(json::parse(DumpJson(r.ToJson())));
  ASSERT_TRUE(reparsed.has_value());
  EXPECT_EQ(*reparsed, r);
  EXPECT_EQ(reparsed->ready_ms, 41.123456789012345);
}

TEST(RunRecordTest, StacksFromBeforeRuntimeDumpsReadAsNative) {
  json j = FullRecord().ToJson();
  for (json& s : j["stacks"]) {
    s.erase("runtime");
    s.erase("cut");
    s.erase("verdict");
  }
  j.erase("ended_by_dump");
  const auto r = RunRecord::FromJson(j);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->stacks.size(), 3u);
  for (const ProcessStacks& s : r->stacks) {
    EXPECT_EQ(s.runtime, "native");
    EXPECT_FALSE(s.cut);
    EXPECT_EQ(s.verdict, "");
  }
  EXPECT_FALSE(r->ended_by_dump);
}

TEST(RunRecordTest, JsonShapeUsesMemberNamesAndNullForAbsentOptionals) {
  RunRecord r;
  r.variant = "v";
  r.outcome = Outcome::kFailedToStart;
  const json j = r.ToJson();
  EXPECT_EQ(j["outcome"], "failed-to-start");
  for (const char* key : {"launch_ms", "ready_ms", "signal_ms", "exit_ms", "latency_ms", "exit_code", "exit_signal"})
    EXPECT_TRUE(j.contains(key) && j[key].is_null()) << key;
  EXPECT_EQ(RunRecord::FromJson(j), r);

  const json full = FullRecord().ToJson();
  EXPECT_EQ(full["rss_timeline"][1], json::array({10.5, 9'961'472}));
  EXPECT_EQ(full["steps"][0], (json{{"name", "api-drain"}, {"ms", 0.089}}));
  EXPECT_EQ(full["held_slots"], json::array({"ai-gateway-rpc#1"}));
  EXPECT_TRUE(j["log"].is_null());
  EXPECT_EQ(full["log"]["clock"], "signal");
  EXPECT_EQ(full["log"]["lines"][1], json::array({0.5, "stderr", "Stop caught"}));
  EXPECT_EQ(full["log"]["dropped_lines"], 121);
  EXPECT_EQ(full["log"]["dropped_bytes"], 4567);
}

TEST(RunRecordTest, ALogTimedFromTheLaunchRoundTrips) {
  RunRecord r;
  r.variant = "v";
  r.outcome = Outcome::kFailedToStart;
  r.log = RunLog{LogClock::kLaunch, {{3.5, 2, "python3: error: unrecognized arguments: --bogus"}}, 0, 0};
  const json j = r.ToJson();
  EXPECT_EQ(j["log"]["clock"], "launch");
  EXPECT_EQ(RunRecord::FromJson(json::parse(DumpJson(j))), r);
}

TEST(RunRecordTest, MissingKeysKeepDefaults) {
  const auto r = RunRecord::FromJson(json{{"variant", "v"}, {"outcome", "slow"}});
  ASSERT_TRUE(r.has_value());
  RunRecord expected;
  expected.variant = "v";
  expected.outcome = Outcome::kSlow;
  EXPECT_EQ(*r, expected);
}

TEST(RunRecordTest, RejectsWhatIsNotARunRecord) {
  const json good = FullRecord().ToJson();
  EXPECT_FALSE(RunRecord::FromJson(json::array()).has_value());
  EXPECT_FALSE(RunRecord::FromJson(json{{"variant", "v"}}).has_value());
  auto with = [&](const char* key, json value) {
    json j = good;
    j[key] = std::move(value);
    return RunRecord::FromJson(j);
  };
  EXPECT_FALSE(with("outcome", "sideways").has_value());
  EXPECT_FALSE(with("latency_ms", "12ms").has_value());
  EXPECT_FALSE(with("launch_ms", "0").has_value());
  EXPECT_FALSE(with("index", 1.5).has_value());
  EXPECT_FALSE(with("index", int64_t{1} << 40).has_value());
  EXPECT_FALSE(with("tree_peak_rss_bytes", -1).has_value());
  EXPECT_FALSE(with("watchdog_fired", 1).has_value());
  EXPECT_FALSE(with("fingerprints", json::array({1})).has_value());
  EXPECT_FALSE(with("rss_timeline", json::array({json::array({1.0})})).has_value());
  EXPECT_FALSE(with("steps", json::array({json{{"name", 3}}})).has_value());
  EXPECT_FALSE(with("stacks", json::object()).has_value());
  EXPECT_FALSE(with("stacks", json::array({json{{"pid", "4242"}}})).has_value());
  EXPECT_FALSE(with("log", json::array()).has_value());
  EXPECT_FALSE(with("log", json{{"clock", "noon"}}).has_value());
  EXPECT_FALSE(with("log", json{{"lines", json::array({json::array({1.0, "stdin", "x"})})}}).has_value());
  EXPECT_FALSE(with("log", json{{"lines", json::array({json::array({1.0, "stdout"})})}}).has_value());
  EXPECT_FALSE(with("log", json{{"dropped_lines", -1}}).has_value());
  EXPECT_TRUE(with("log", json::object()).has_value());  // every key missing: the defaults
  EXPECT_TRUE(with("latency_ms", 12).has_value());       // an integral JSON number is still a number
}

TEST(RunRecordTest, InvalidUtf8FromATargetStillSerializes) {
  RunRecord r;
  r.variant = "v";
  r.log_tail = {"bad \xFF byte"};
  const std::string text = DumpJson(r.ToJson());
  const auto back = RunRecord::FromJson(json::parse(text));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->log_tail.at(0), "bad \xEF\xBF\xBD byte");  // U+FFFD
}

}  // namespace
}  // namespace coder::harness
