// `coder diag shutdown` finds timeouts nobody named: the common timeouts by default, a fixed tail at any
// value, the generic timeout lines servers print while they stop, and latencies the watchdog cut short
// reported as the lower bounds they are. Real targets (the calibrated target), real signals, real files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/report_files.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

// Readiness is said explicitly, so these tests hold whatever the default for a command after -- is.
const std::vector<std::string> kReady = {"--ready-log", "Started HTTP listener at "};

std::vector<std::string> Args(std::vector<std::string> flags, const std::vector<std::string>& target) {
  flags.insert(flags.end(), kReady.begin(), kReady.end());
  flags.push_back("--");
  flags.push_back(CALIBRATED_TARGET_PATH);
  flags.insert(flags.end(), target.begin(), target.end());
  return flags;
}

std::vector<json> FindingsOfKind(const json& report, const std::string& kind) {
  std::vector<json> out;
  for (const auto& f : report["gate"]["findings"])
    if (f["kind"] == kind) out.push_back(f);
  return out;
}

std::vector<std::string> Fingerprints(const json& run) { return run["fingerprints"].get<std::vector<std::string>>(); }

// ---- known timeouts: the common ones by default ----

TEST(DiagKnownTimeoutsTest, AStopAtTwoSecondsMatchesACommonTimeoutWithoutAnyFlag) {
  TempDir dir;
  const auto report = dir.path() / "r.json";
  const auto r = RunDiag(Args({"--runs", "1", "--json", report.string()}, {"--exit-after-ms", "2000"}));
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_EQ(r.exit->Describe(), "exit 1") << r.output;
  const json j = ReadJson(report);
  ASSERT_EQ(j["runs"].size(), 1u) << r.output;
  EXPECT_EQ(j["runs"][0]["outcome"], "timeout-fingerprint") << j["runs"][0].dump();
  EXPECT_THAT(Fingerprints(j["runs"][0]), Contains("latency-at-known-timeout"));
  EXPECT_EQ(j["meta"]["options"]["known_timeouts_ms"],
            json::array({1000, 2000, 3000, 5000, 10000, 15000, 30000, 60000}));
}

// ---- fixed tails ----

TEST(DiagFixedTailTest, StopsClusteredAtAnUnknownTimeoutAreAFindingInEveryReport) {
  TempDir dir;
  const auto report = dir.path() / "r.json", markdown = dir.path() / "r.md", junit = dir.path() / "r.xml";
  // 1.3 s is no known timeout and under the slow threshold: every run by itself is clean.
  const auto r = RunDiag(
      Args({"--runs", "4", "--json", report.string(), "--markdown", markdown.string(), "--junit", junit.string()},
           {"--exit-after-ms", "1300"}),
      120s);
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_EQ(r.exit->Describe(), "exit 1") << r.output;
  EXPECT_THAT(r.output, HasSubstr("Fixed tails (stops clustered at one latency: the signature of a timeout):"));
  EXPECT_THAT(r.output, HasSubstr("stops cluster at 1.3"));

  const json j = ReadJson(report);
  ASSERT_EQ(j["runs"].size(), 4u) << r.output;
  for (const auto& run : j["runs"]) EXPECT_EQ(run["outcome"], "clean") << run.dump();
  const json& tail = j["variants"][0]["summary"]["fixed_tail"];
  ASSERT_TRUE(tail.is_object()) << j["variants"].dump();
  EXPECT_GE(tail["runs"].get<int>(), 2);
  EXPECT_EQ(tail["of"], 4);
  EXPECT_GE(tail["ms"].get<double>(), 1300);
  EXPECT_LT(tail["ms"].get<double>(), 1600);
  const auto findings = FindingsOfKind(j, "fixed-tail");
  ASSERT_EQ(findings.size(), 1u) << j["gate"].dump();
  EXPECT_TRUE(findings[0]["run"].is_null());
  EXPECT_EQ(findings[0]["gated"], true);
  EXPECT_THAT(findings[0]["message"].get<std::string>(), HasSubstr("stops cluster at 1.3"));
  EXPECT_THAT(j["gate"]["fail_on"].get<std::vector<std::string>>(), Contains("fixed-tail"));

  const std::string md = ReadText(markdown);
  EXPECT_THAT(md, HasSubstr("### Fixed tails"));
  EXPECT_THAT(md, HasSubstr("| fixed-tail | stops cluster at 1.3"));
  const std::string xml = ReadText(junit);
  EXPECT_THAT(xml, HasSubstr("type=\"fixed-tail\""));
  EXPECT_THAT(xml, HasSubstr("fixed tail: stops cluster at 1.3"));
}

TEST(DiagFixedTailTest, GatedOnlyWhenItsKindIsAskedForAndNeverForABaseline) {
  TempDir dir;
  const auto report = dir.path() / "r.json";
  const auto not_asked =
      RunDiag(Args({"--runs", "3", "--fail-on", "fingerprint,slow,watchdog,crash", "--json", report.string()},
                   {"--exit-after-ms", "1300"}),
              120s);
  ASSERT_TRUE(not_asked.exit) << not_asked.output;
  EXPECT_EQ(not_asked.exit->Describe(), "exit 0") << not_asked.output;
  EXPECT_EQ(FindingsOfKind(ReadJson(report), "fixed-tail").size(), 1u);  // reported all the same

  const std::string target = CALIBRATED_TARGET_PATH;
  const auto baseline = RunDiag({"--runs", "3", "--parallel", "2", "--ready-log", "Started HTTP listener at ",
                                 "--target", "old=" + target + " --exit-after-ms 1300", "--target", "new=" + target,
                                 "--baseline", "old", "--json", report.string()},
                                120s);
  ASSERT_TRUE(baseline.exit) << baseline.output;
  EXPECT_EQ(baseline.exit->Describe(), "exit 0") << baseline.output;
  const auto findings = FindingsOfKind(ReadJson(report), "fixed-tail");
  ASSERT_EQ(findings.size(), 1u) << baseline.output;
  EXPECT_EQ(findings[0]["variant"], "old");
  EXPECT_EQ(findings[0]["gated"], false);
}

// ---- generic timeout lines, printed while the target stops ----

TEST(DiagTimeoutLineTest, AGoServerGivingUpItsShutdownAtThreeSecondsIsNotClean) {
  // What a Go server whose http.Server.Shutdown context runs out prints, 3 s after the signal.
  TempDir dir;
  const auto report = dir.path() / "r.json";
  const auto r = RunDiag(
      Args({"--runs", "2", "--json", report.string()},
           {"--print-after-signal", "server shutdown failed: context deadline exceeded", "--exit-after-ms", "3000"}),
      120s);
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_EQ(r.exit->Describe(), "exit 1") << r.output;
  const json j = ReadJson(report);
  ASSERT_EQ(j["runs"].size(), 2u) << r.output;
  for (const auto& run : j["runs"]) {
    EXPECT_EQ(run["outcome"], "timeout-fingerprint") << run.dump();
    EXPECT_THAT(Fingerprints(run), Contains("deadline-exceeded"));
    EXPECT_THAT(Fingerprints(run), Contains("latency-at-known-timeout"));
  }
  EXPECT_THAT(r.output, HasSubstr("2 timeout-fingerprint"));
}

TEST(DiagTimeoutLineTest, TheLineCountsAfterTheSignalNotBeforeItAndCanBeSwitchedOff) {
  TempDir dir;
  const auto report = dir.path() / "r.json";
  const std::string line = "shutdown: context deadline exceeded";

  const auto after = RunDiag(Args({"--runs", "1", "--json", report.string()}, {"--print-after-signal", line}));
  ASSERT_TRUE(after.exit) << after.output;
  EXPECT_EQ(after.exit->Describe(), "exit 1") << after.output;
  json run = ReadJson(report)["runs"][0];
  EXPECT_EQ(run["outcome"], "timeout-fingerprint") << run.dump();
  EXPECT_THAT(Fingerprints(run), Contains("deadline-exceeded"));
  EXPECT_THAT(run["detail"].get<std::string>(), HasSubstr("deadline-exceeded"));

  // The same words in the ready line, before the signal: a server's settings or an earlier request.
  const auto before = RunDiag(
      Args({"--runs", "1", "--json", report.string()}, {"--ready-line", "Started HTTP listener at x; " + line}));
  ASSERT_TRUE(before.exit) << before.output;
  EXPECT_EQ(before.exit->Describe(), "exit 0") << before.output;
  run = ReadJson(report)["runs"][0];
  EXPECT_EQ(run["outcome"], "clean") << run.dump();
  EXPECT_THAT(Fingerprints(run), Not(Contains("deadline-exceeded")));

  const auto off = RunDiag(Args({"--runs", "1", "--no-fingerprint", "deadline-exceeded", "--json", report.string()},
                                {"--print-after-signal", line}));
  ASSERT_TRUE(off.exit) << off.output;
  EXPECT_EQ(off.exit->Describe(), "exit 0") << off.output;
  run = ReadJson(report)["runs"][0];
  EXPECT_EQ(run["outcome"], "clean") << run.dump();
  EXPECT_TRUE(run["fingerprints"].empty()) << run.dump();
}

TEST(DiagTimeoutLineTest, AnUnknownFingerprintToSwitchOffIsAUsageErrorListingTheNames) {
  const auto r = RunDiag(Args({"--no-fingerprint", "deadline-exceded"}, {}), 20s);
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_EQ(r.exit->Describe(), "exit 2") << r.output;
  EXPECT_THAT(r.output, HasSubstr("--no-fingerprint deadline-exceded: not a built-in line fingerprint (names: "
                                  "websocket-shutdown-timeout, timed-out, deadline-exceeded,"));
}

// ---- censoring: a run the watchdog killed stopped no sooner than its recorded latency ----

TEST(DiagCensoredTest, WatchdogKillsAreLowerBoundsInTheTableMarkdownJunitAndJson) {
  TempDir dir;
  const auto report = dir.path() / "r.json", markdown = dir.path() / "r.md", junit = dir.path() / "r.xml";
  const auto r = RunDiag(Args({"--runs", "2", "--parallel", "2", "--kill-after", "1s", "--json", report.string(),
                               "--markdown", markdown.string(), "--junit", junit.string()},
                              {"--ignore-signals"}),
                         120s);
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_EQ(r.exit->Describe(), "exit 1") << r.output;
  EXPECT_THAT(r.output, HasSubstr(">= 1.0"));
  EXPECT_THAT(r.output, HasSubstr(">= marks a latency that is a lower bound: 2 runs killed by the watchdog"));
  EXPECT_THAT(ReadText(markdown), HasSubstr("| ≥ 1.0"));
  EXPECT_THAT(ReadText(junit), HasSubstr("p50 &gt;= 1.0"));

  const json j = ReadJson(report);
  const json& latency = j["variants"][0]["summary"]["latency_ms"];
  EXPECT_EQ(latency["n"], 2);
  EXPECT_EQ(latency["censored"], 2);
  EXPECT_EQ(latency["lower_bounds"], json::array({"min", "p50", "p95", "p99", "max", "mean"}));
  EXPECT_GE(latency["min"].get<double>(), 1000);
  // The kills cluster at the watchdog's delay, which is not the target's: no fixed tail.
  EXPECT_TRUE(j["variants"][0]["summary"]["fixed_tail"].is_null()) << j["variants"].dump();
  EXPECT_TRUE(FindingsOfKind(j, "fixed-tail").empty());
}

TEST(DiagCensoredTest, AHangingVariantIsAtLeastARegressionAgainstAQuickBaseline) {
  TempDir dir;
  const auto report = dir.path() / "r.json";
  const std::string target = CALIBRATED_TARGET_PATH;
  const auto r =
      RunDiag({"--runs", "3", "--parallel", "3", "--kill-after", "1s", "--ready-log", "Started HTTP listener at ",
               "--target", "hangs=" + target + " --ignore-signals", "--target", "quick=" + target, "--baseline",
               "quick", "--fail-on", "regression", "--json", report.string()},
              120s);
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_EQ(r.exit->Describe(), "exit 1") << r.output;
  EXPECT_THAT(r.output, HasSubstr("hangs vs quick  REGRESSION"));
  EXPECT_THAT(r.output, HasSubstr("p95 >= "));
  EXPECT_THAT(r.output, HasSubstr("suite shutdown >= "));
  const json j = ReadJson(report);
  ASSERT_EQ(j["comparisons"].size(), 1u) << j["comparisons"].dump();
  const json& p95 = j["comparisons"][0]["p95_ratio"];
  EXPECT_EQ(p95["bound"], "lower_bound") << p95.dump();
  EXPECT_TRUE(p95["ci_high"].is_null());
  EXPECT_GT(p95["ci_low"].get<double>(), 2);
  EXPECT_EQ(j["comparisons"][0]["regression"], true);
  EXPECT_EQ(j["comparisons"][0]["suite_shutdown_lower_bound"], true);
  const auto regressions = FindingsOfKind(j, "regression");
  ASSERT_EQ(regressions.size(), 1u);
  EXPECT_THAT(regressions[0]["message"].get<std::string>(), HasSubstr("p95 shutdown latency at least "));
}

}  // namespace
}  // namespace coder::e2e
