// What `coder diag` promises a user who runs it on a shared CI machine: a target's command line is never
// given to a shell, per-run directories are the user's alone and gone afterwards, reports appear whole.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/report_files.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(DiagSecurityTest, TargetWordsReachExecWithoutAShell) {
  TempDir dir;
  const auto report = dir.path() / "report.json";
  const std::string marker = (dir.path() / "made-by-a-shell").string();
  const std::string words = "$(touch " + marker + ") `touch " + marker + "` ; touch " + marker + " && touch " + marker +
                            " | touch " + marker + " > " + marker;
  const auto r =
      RunDiag({"--runs", "1", "--ready-log", ".", "--json", report.string(), "--target", "t=/bin/echo " + words}, 20s);
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_FALSE(std::filesystem::exists(marker)) << "a shell ran the target's command line";
  const json j = ReadJson(report);
  ASSERT_EQ(j["runs"].size(), 1u) << r.output;
  // echo joins its arguments with one blank: every operator arrived as a plain word.
  EXPECT_THAT(j["runs"][0]["log_tail"], ElementsAre(words)) << r.output;
}

TEST(DiagSecurityTest, EachRunsDirIsPrivateAndRemovedAfterTheRun) {
  TempDir dir;
  const auto report = dir.path() / "report.json";
  // The target reports its {dir}'s mode and owner, then its path, so the test can look after the run.
  const auto r = RunDiag({"--runs", "2", "--ready-log", "^path=", "--json", report.string(), "--target",
                          "t=/usr/bin/stat --printf='mode=%a uid=%u\\npath=%n\\n' {dir}"},
                         20s);
  ASSERT_TRUE(r.exit) << r.output;
  const json j = ReadJson(report);
  ASSERT_EQ(j["runs"].size(), 2u) << r.output;
  std::vector<std::string> paths;
  for (const auto& run : j["runs"]) {
    ASSERT_EQ(run["log_tail"].size(), 2u) << run.dump();
    EXPECT_EQ(run["log_tail"][0], "mode=700 uid=" + std::to_string(::geteuid()));
    const std::string line = run["log_tail"][1];
    ASSERT_EQ(line.rfind("path=", 0), 0u) << line;
    paths.push_back(line.substr(5));
  }
  EXPECT_NE(paths[0], paths[1]) << "two runs shared a directory";
  for (const auto& p : paths) EXPECT_FALSE(std::filesystem::exists(p)) << p << " outlived its run";
}

TEST(DiagSecurityTest, ReportsAreCompleteWithNoTemporaryLeftBeside) {
  TempDir dir;
  const auto report = dir.path() / "report.json";
  const auto junit = dir.path() / "junit.xml";
  const auto markdown = dir.path() / "summary.md";
  const auto r = RunDiag({"--runs", "1", "--ready-log", ".", "--json", report.string(), "--junit", junit.string(),
                          "--markdown", markdown.string(), "--target", "t=/bin/echo hello"},
                         20s);
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_TRUE(ReadJson(report).is_object());
  EXPECT_THAT(ReadText(junit), HasSubstr("</testsuites>"));
  EXPECT_FALSE(ReadText(markdown).empty());
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_THAT(names, ElementsAre("junit.xml", "report.json", "summary.md"));
}

// A link planted at the --jsonl path (a shared directory) made a root run truncate what it pointed at.
TEST(DiagSecurityTest, TheJsonLinesFileIsNeverWrittenThroughAPlantedLink) {
  TempDir dir;
  const auto victim = dir.path() / "victim";
  std::ofstream(victim) << "precious\n";
  const auto link = dir.path() / "runs.jsonl";
  std::filesystem::create_symlink(victim, link);
  const auto r = RunDiag({"--runs", "1", "--jsonl", link.string(), "--", CALIBRATED_TARGET_PATH}, 30s);
  ASSERT_TRUE(r.exit);
  EXPECT_EQ(r.exit->Describe(), "exit 2") << r.output;
  EXPECT_THAT(r.output, HasSubstr("is a symbolic link, which the harness never writes through"));
  EXPECT_EQ(ReadText(victim), "precious\n");
}

TEST(DiagSecurityTest, TheJsonLinesFileMayBeTheHarnesssOwnStdout) {
  const auto r = RunDiag({"--runs", "1", "--jsonl", "/dev/stdout", "--", CALIBRATED_TARGET_PATH}, 30s);
  ASSERT_TRUE(r.exit);
  EXPECT_EQ(r.exit->Describe(), "exit 0") << r.output;
  EXPECT_THAT(r.output, HasSubstr("\"variant\":\"calibrated_target\""));
}

}  // namespace
}  // namespace coder::e2e
