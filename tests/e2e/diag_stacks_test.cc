// `coder diag shutdown --stack-after`: a hung run's stacks reach the reports before the watchdog kills it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <optional>

#include "harness/measure/stack_capture.h"
#include "harness/process/child_process.h"
#include "harness/process/spawn.h"
#include "tests/e2e/coder_server.h"
#include "tests/e2e/foreign_servers.h"
#include "tests/e2e/report_files.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;

TEST(DiagStacksTest, AHungShutdownHasItsStacksInTheReportsBeforeTheWatchdog) {
  TempDir dir;
  const auto report = dir.path() / "report.json";
  const auto junit = dir.path() / "junit.xml";
  const auto r =
      RunDiag({"--runs", "1", "--stack-after", "200ms", "--kill-after", "5s", "--json", report.string(), "--junit",
               junit.string(), "--", CALIBRATED_TARGET_PATH, "--ignore-signals", "--fork-grandchild"});
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_EQ(r.exit->Describe(), "exit 1") << r.output;
  EXPECT_THAT(r.output, HasSubstr("stacks of 1 hung run taken with"));
  const json j = ReadJson(report);
  ASSERT_TRUE(j.is_object()) << r.output;
  ASSERT_EQ(j["runs"].size(), 1u);
  const json& run = j["runs"][0];
  EXPECT_EQ(run["outcome"], "killed-by-watchdog");
  // The leader and its grandchild, the leader first, each taken after --stack-after and before the kill.
  ASSERT_EQ(run["stacks"].size(), 2u) << run.dump(2);
  const double signal_ms = run["signal_ms"].get<double>();
  for (const json& s : run["stacks"]) {
    EXPECT_EQ(s["error"], "") << s.dump();
    EXPECT_THAT(s["text"].get<std::string>(), HasSubstr("main")) << s.dump();
    EXPECT_GE(s["at_ms"].get<double>(), signal_ms + 200);
    EXPECT_LT(s["at_ms"].get<double>(), signal_ms + 5000);
  }
  EXPECT_EQ(run["stacks"][0]["pid"], run["stacks"][0]["pid"].get<int>());
  EXPECT_EQ(j["meta"]["options"]["stack_after_ms"], 200);

  const std::string xml = ReadText(junit);
  EXPECT_THAT(xml, HasSubstr("stacks of process " + std::to_string(run["stacks"][0]["pid"].get<int>())));
}

TEST(DiagStacksTest, WithoutAReportFileTheFirstHungRunsStacksArePrinted) {
  const auto r = RunDiag({"--runs", "1", "--stack-after", "100ms", "--kill-after", "5s", "--", CALIBRATED_TARGET_PATH,
                          "--ignore-signals"});
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_EQ(r.exit->Describe(), "exit 1") << r.output;
  EXPECT_THAT(r.output, HasSubstr("(--json keeps them all):"));
  EXPECT_THAT(r.output, HasSubstr("--- process "));
  EXPECT_THAT(r.output, HasSubstr("main"));
}

TEST(DiagStacksTest, ARunThatStopsInTimeHasNoStacks) {
  TempDir dir;
  const auto report = dir.path() / "report.json";
  const auto r = RunDiag({"--runs", "2", "--stack-after", "5s", "--kill-after", "10s", "--json", report.string(), "--",
                          CALIBRATED_TARGET_PATH});
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_EQ(r.exit->Describe(), "exit 0") << r.output;
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("stacks of")));
  const json j = ReadJson(report);
  ASSERT_EQ(j["runs"].size(), 2u) << r.output;
  for (const json& run : j["runs"]) EXPECT_TRUE(run["stacks"].empty()) << run.dump();
}

TEST(DiagStacksTest, ANeverReadyTargetHasItsStacksTakenAtTheReadyTimeout) {
  TempDir dir;
  const auto report = dir.path() / "report.json";
  const auto r = RunDiag({"--runs", "1", "--stack-after", "1s", "--ready-timeout", "300ms", "--json", report.string(),
                          "--", CALIBRATED_TARGET_PATH, "--never-ready"});
  ASSERT_TRUE(r.exit) << r.output;
  const json j = ReadJson(report);
  ASSERT_EQ(j["runs"].size(), 1u) << r.output;
  EXPECT_EQ(j["runs"][0]["outcome"], "never-ready");
  ASSERT_EQ(j["runs"][0]["stacks"].size(), 1u) << j["runs"][0].dump(2);
  EXPECT_THAT(j["runs"][0]["stacks"][0]["text"].get<std::string>(), HasSubstr("main"));
}

constexpr const char* kGoReadyLine = "hung go server ready";

// A Go server that catches the stop signal and never exits. Standard library only.
constexpr const char* kHungGoServer = R"(package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("hung go server ready")
	<-stop
	fmt.Println("stop received; not stopping")
	for {
		time.Sleep(time.Hour)
	}
}
)";

// eu-stack exits 1 on the warnings it prints for every Go binary (no matching address range below a
// thread's bottom frame) while it prints every thread's stack. Before, the run recorded "eu-stack ended
// with exit 1" as the capture's error.
TEST(DiagStacksTest, AHungGoServersStacksAreCompleteDespiteEuStacksWarnings) {
  if (auto tool = harness::FindStackTool("eu-stack", harness::ChildPath({})); !tool)
    GTEST_SKIP() << tool.error().message << " (scripts/setup installs it)";
  TempDir dir;
  const GoBuild built = BuildGoProgram(dir.path(), "hung", kHungGoServer);
  if (built.skip) GTEST_SKIP() << built.why;
  ASSERT_TRUE(built.binary) << built.why;
  const auto report = dir.path() / "report.json";
  const auto r =
      RunDiag({"--runs", "1", "--stack-after", "300ms", "--stack-tool", "eu-stack", "--dump", "native", "--kill-after",
               "5s", "--ready-log", kGoReadyLine, "--json", report.string(), "--", built.binary->string()});
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_EQ(r.exit->Describe(), "exit 1") << r.output;
  const json j = ReadJson(report);
  ASSERT_EQ(j["runs"].size(), 1u) << r.output;
  const json& run = j["runs"][0];
  EXPECT_EQ(run["outcome"], "killed-by-watchdog") << run.dump(2);
  ASSERT_FALSE(run["stacks"].empty()) << run.dump(2);
  for (const json& s : run["stacks"]) {
    EXPECT_EQ(s["error"], "") << s.dump();
    const std::string text = s["text"].get<std::string>();
    EXPECT_THAT(text, HasSubstr("TID ")) << text;
    EXPECT_THAT(text, HasSubstr("#0 ")) << text;
    EXPECT_THAT(text, HasSubstr("runtime.")) << text;
  }
}

struct StackUsageCase {
  std::string name;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string message;
};

class DiagStacksUsageTest : public ::testing::TestWithParam<StackUsageCase> {};

TEST_P(DiagStacksUsageTest, ExitsTwoBeforeAnyRun) {
  auto args = GetParam().args;
  args.insert(args.end(), {"--", CALIBRATED_TARGET_PATH});
  const auto r = RunDiag(args, GetParam().env);
  ASSERT_TRUE(r.exit);
  EXPECT_EQ(r.exit->Describe(), "exit 2") << r.output;
  EXPECT_THAT(r.output, HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    BadInput, DiagStacksUsageTest,
    ::testing::Values(
        StackUsageCase{
            "NotBeforeTheWatchdog",
            {"--stack-after", "30s"},
            {},
            "--stack-after 30s is not shorter than --kill-after 30s: the watchdog would kill the target first"},
        StackUsageCase{"NoToolInstalled",
                       {"--stack-after", "1s"},
                       {{"PATH", "/nonexistent"}},
                       "--stack-after: neither eu-stack nor gdb is in PATH"},
        StackUsageCase{"UnknownTool", {"--stack-after", "1s", "--stack-tool", "lldb"}, {}, "unknown stack tool 'lldb'"},
        StackUsageCase{
            "ToolWithoutStackAfter", {"--stack-tool", "gdb"}, {}, "--stack-tool: only meaningful with --stack-after"},
        StackUsageCase{"BadDuration", {"--stack-after", "soon"}, {}, "--stack-after: invalid duration"}),
    [](const ::testing::TestParamInfo<StackUsageCase>& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace coder::e2e
