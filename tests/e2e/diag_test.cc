// The real `coder diag shutdown` binary: exit codes, reports, and that it never leaves a process behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <random>

#include "harness/process/child_process.h"
#include "tests/e2e/coder_server.h"
#include "tests/e2e/process_scan.h"
#include "tests/e2e/report_files.h"
#include "tests/harness/harness_test_util.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::Contains;
using ::testing::HasSubstr;

// Files and /proc notify nobody: re-check them until a deadline.
template <class Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout) {
  return harness::testing::Eventually(pred, harness::testing::In(timeout));
}

std::unique_ptr<harness::ChildProcess> LaunchDiag(std::vector<std::string> args) {
  args.insert(args.begin(), {"diag", "shutdown"});
  return LaunchCoder(args);
}

std::string UniqueMarker() { return "diag-marker-" + std::to_string(std::random_device{}()); }

struct UsageCase {
  std::string name;
  std::vector<std::string> args;
  std::string message;
};

class DiagUsageTest : public ::testing::TestWithParam<UsageCase> {};

TEST_P(DiagUsageTest, ExitsTwoWithAClearMessage) {
  const auto r = RunDiag(GetParam().args, 20s);
  ASSERT_TRUE(r.exit);
  EXPECT_EQ(r.exit->Describe(), "exit 2") << r.output;
  EXPECT_THAT(r.output, HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    BadInput, DiagUsageTest,
    ::testing::Values(UsageCase{"UnknownFlag", {"--no-such-flag"}, "--no-such-flag"},
                      UsageCase{"BadDuration", {"--hold", "5"}, "--hold: invalid duration \"5\": missing unit"},
                      UsageCase{"ZeroRuns", {"--runs", "0"}, "--runs: want at least 1, got 0"},
                      UsageCase{"MissingTargetBinary",
                                {"--", "/no/such/server"},
                                "cannot execute /no/such/server: No such file or directory"},
                      UsageCase{"UnknownBaseline", {"--baseline", "nope"}, "--baseline nope: no such variant"},
                      UsageCase{"UnknownSignal", {"--signal", "LOUD"}, "unknown signal \"LOUD\""},
                      UsageCase{"BadFingerprint", {"--fingerprint", "x=(oops"}, "invalid --fingerprint"},
                      UsageCase{"UnwritableReportDirectory", {"--json", "/no/such/dir/r.json"}, "does not exist"}),
    [](const ::testing::TestParamInfo<UsageCase>& param_info) { return param_info.param.name; });

TEST(DiagShutdownTest, PatchedServerIsCleanAndExitsZero) {
  TempDir dir;
  const auto report = dir.path() / "report.json";
  const auto lines = dir.path() / "runs.jsonl";
  const auto r = RunDiag({"--runs", "3", "--gateway", "on", "--shutdown-order", "patched", "--json", report.string(),
                          "--jsonl", lines.string()});
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_EQ(r.exit->Describe(), "exit 0") << r.output;
  EXPECT_THAT(r.output, HasSubstr("no findings in gated variants"));
  const json j = ReadJson(report);
  ASSERT_TRUE(j.is_object()) << r.output;
  EXPECT_EQ(j["schema"], "coder.diag.shutdown/v1");
  ASSERT_EQ(j["runs"].size(), 3u);
  for (const auto& run : j["runs"]) {
    EXPECT_EQ(run["variant"], "order=patched,gateway=on");
    EXPECT_EQ(run["outcome"], "clean") << run.dump();
    EXPECT_EQ(run["steps"].size(), 5u) << run.dump();
    EXPECT_LT(run["latency_ms"].get<double>(), 8000);
  }
  EXPECT_EQ(ReadLines(lines).size(), 3u);
}

TEST(DiagShutdownTest, UnpatchedTailIsFlaggedWithTheGatewaySlotAndGatesOnlyWhenAsked) {
  TempDir dir;
  const auto report = dir.path() / "report.json";
  const std::vector<std::string> base = {
      "--runs", "1",      "--gateway",    "on", "--shutdown-order", "unpatched", "--websocket-shutdown-timeout",
      "300ms",  "--json", report.string()};
  // By default unpatched is the baseline: reported, not gated.
  const auto reported = RunDiag(base);
  ASSERT_TRUE(reported.exit);
  EXPECT_EQ(reported.exit->Describe(), "exit 0") << reported.output;
  EXPECT_THAT(reported.output, HasSubstr("timeout-fingerprint"));

  auto gated_args = base;
  gated_args.insert(gated_args.end(), {"--baseline", "none"});
  const auto gated = RunDiag(gated_args);
  ASSERT_TRUE(gated.exit);
  EXPECT_EQ(gated.exit->Describe(), "exit 1") << gated.output;
  const json j = ReadJson(report);
  ASSERT_EQ(j["runs"].size(), 1u);
  const auto& run = j["runs"][0];
  EXPECT_EQ(run["outcome"], "timeout-fingerprint");
  EXPECT_THAT(run["fingerprints"].get<std::vector<std::string>>(), Contains("websocket-shutdown-timeout"));
  EXPECT_THAT(run["held_slots"].get<std::vector<std::string>>(), Contains("ai-gateway-rpc#1"));
  EXPECT_GE(run["latency_ms"].get<double>(), 300);
  EXPECT_EQ(j["variants"][0]["summary"]["dominant_step"]["name"], "websocket-wait") << j["variants"].dump();
}

TEST(DiagShutdownTest, JsonlKeepsEveryFinishedRunWhenTheHarnessIsKilled) {
  TempDir dir;
  const auto lines = dir.path() / "runs.jsonl";
  const std::string marker = UniqueMarker();
  auto diag = LaunchDiag({"--runs", "1000", "--jsonl", lines.string(), "--", CALIBRATED_TARGET_PATH, "--ready-line",
                          "Started HTTP listener at " + marker});
  ASSERT_TRUE(diag);
  ASSERT_TRUE(Eventually([&] { return ReadLines(lines).size() >= 3; }, 30s)) << diag->Output();
  ASSERT_TRUE(diag->Signal(SIGKILL).ok());
  ASSERT_TRUE(diag->WaitUntil(In(10s)));
  const auto kept = ReadLines(lines);
  ASSERT_GE(kept.size(), 3u);
  for (const auto& line : kept) {
    const auto run = json::parse(line, nullptr, false);
    ASSERT_FALSE(run.is_discarded()) << line;
    EXPECT_EQ(run["outcome"], "clean");
  }
  // The parent-death signal takes the target in flight down with the harness.
  EXPECT_TRUE(Eventually([&] { return ProcessesWith(marker).empty(); }, 10s));
}

TEST(DiagShutdownTest, InterruptKillsEveryTargetWritesAPartialReportAndExits130) {
  TempDir dir;
  const auto report = dir.path() / "report.json";
  const std::string marker = UniqueMarker();
  auto diag =
      LaunchDiag({"--runs", "3", "--parallel", "3", "--hold", "60s", "--json", report.string(), "--",
                  CALIBRATED_TARGET_PATH, "--fork-grandchild", "--ready-line", "Started HTTP listener at " + marker});
  ASSERT_TRUE(diag);
  // The harness (its argv carries the marker too), three targets and three grandchildren, held after ready.
  ASSERT_TRUE(Eventually([&] { return ProcessesWith(marker).size() >= 7; }, 30s)) << diag->Output();
  ASSERT_TRUE(diag->Signal(SIGINT).ok());
  const auto exit = diag->WaitUntil(In(30s));
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->Describe(), "exit 130") << diag->Output();
  EXPECT_TRUE(ProcessesWith(marker).empty());
  const json j = ReadJson(report);
  ASSERT_TRUE(j.is_object()) << diag->Output();
  EXPECT_EQ(j["meta"]["interrupted"], true);
  EXPECT_EQ(j["meta"]["exit_code"], 130);
}

TEST(DiagShutdownTest, AGrandchildForkingTargetLeavesNothingBehind) {
  const std::string marker = UniqueMarker();
  const auto r = RunDiag({"--runs", "2", "--", CALIBRATED_TARGET_PATH, "--fork-grandchild", "--ready-line",
                          "Started HTTP listener at " + marker});
  ASSERT_TRUE(r.exit);
  // The grandchild ignores the stop signal: the runs are not clean, and the harness killed it.
  EXPECT_EQ(r.exit->Describe(), "exit 1") << r.output;
  EXPECT_THAT(r.output, HasSubstr("left-processes"));
  EXPECT_TRUE(ProcessesWith(marker).empty());
}

// A target stopped right at ready (as nginx with its workers is, with --hold 0): with a 1 s sampling
// period the periodic ticks all but never fall inside a run, so the tree's peak comes from the samples
// taken at ready and at the signal. Before, those saw the leader alone: its workers were forked after the
// launch's discovery and within the 50 ms before the next one.
TEST(DiagRssTest, TreePeakOfATargetStoppedAtReadyCountsItsWorkers) {
  TempDir dir;
  const auto report = dir.path() / "report.json";
  constexpr int kChildren = 3;
  constexpr int kChildMib = 16;
  const auto r = RunDiag({"--runs", "3", "--hold", "0", "--sample-interval", "1s", "--json", report.string(), "--",
                          CALIBRATED_TARGET_PATH, "--children", std::to_string(kChildren), "--child-hold-mib",
                          std::to_string(kChildMib)});
  ASSERT_TRUE(r.exit);
  EXPECT_EQ(r.exit->Describe(), "exit 0") << r.output;
  const json j = ReadJson(report);
  ASSERT_EQ(j["runs"].size(), 3u) << r.output;
  // Each worker holds its memory before the ready line; their code and stacks only add to it.
  const double workers = kChildren * kChildMib * double(1 << 20);
  for (const json& run : j["runs"]) {
    EXPECT_EQ(run["outcome"], "clean") << run.dump();
    EXPECT_GE(run["tree_peak_rss_bytes"].get<double>(), 0.8 * workers) << run.dump();
  }
}

}  // namespace
}  // namespace coder::e2e
