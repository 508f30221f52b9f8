#include "harness/report/annotations.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

#include "tests/harness/report_fixture.h"

namespace coder::harness {
namespace {

using nlohmann::json;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(AnnotationTest, GatedFindingsAreErrorsAndBaselineFindingsWarnings) {
  const auto lines = Lines(testing::AnnotationsOf(testing::FullSampleReport()));
  ASSERT_EQ(lines.size(), 3u) << testing::AnnotationsOf(testing::FullSampleReport());
  EXPECT_EQ(lines[0],
            "::error title=coder diag shutdown%3A order=patched%2Cgateway=off::#2 slow: stopped in 6.000s, over the 5s "
            "slow threshold");
  EXPECT_EQ(
      lines[1],
      "::error title=coder diag shutdown%3A all variants::projected peak 30.4GiB (every target at 7.60GiB) exceeds "
      "the 17.0GiB budget for 9.00s");
  // The baseline's four timeouts are one line, not four.
  EXPECT_EQ(
      lines[2],
      "::warning title=coder diag shutdown%3A order=unpatched%2Cgateway=on (baseline)::4 fingerprint findings in 4 "
      "runs (#0, #1, #2, #3); first: timeout-fingerprint: a shutdown wait timed out on: ai-gateway-rpc#1");
}

TEST(AnnotationTest, FindingsOfKindsNotInFailOnAreWarnings) {
  const auto e = testing::MakeSampleExperiment();
  json report = testing::ReportOf(e);
  report["gate"] = testing::GateOf(e, {"fingerprint"}, false);
  for (const std::string& line : Lines(testing::AnnotationsOf(report)))
    EXPECT_TRUE(line.starts_with("::warning ")) << line;
  EXPECT_NE(testing::AnnotationsOf(report).find("order=patched%2Cgateway=off (not gated)::"), std::string::npos);
}

TEST(AnnotationTest, EscapesMessagesAndPropertiesAsGithubDoes) {
  EXPECT_EQ(EscapeGithubCommand("100% a\r\nb: c, d", false), "100%25 a%0D%0Ab: c, d");
  EXPECT_EQ(EscapeGithubCommand("100% a\r\nb: c, d", true), "100%25 a%0D%0Ab%3A c%2C d");
  EXPECT_EQ(EscapeGithubCommand("tab\there\x1b[0m", false), "tab here [0m");

  const auto e = testing::MakeSampleExperiment();
  json report = testing::ReportOf(e);
  report["gate"] = testing::GateOf(e, {"slow"}, false);
  report["gate"]["findings"].back()["message"] = "line one\nline two: 50%";
  report["gate"]["findings"].back()["variant"] = "x,y:z";
  const auto lines = Lines(testing::AnnotationsOf(report));
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "::error title=coder diag shutdown%3A x%2Cy%3Az::#2 line one%0Aline two: 50%25");
}

TEST(AnnotationTest, BudgetAndRegressionNotesWithoutFindingsAreWarnings) {
  json report = testing::ReportOf(testing::MakeSampleExperiment());
  report["budget"] = testing::SampleBudget();
  report["comparisons"] = testing::SampleComparisons(/*regression=*/true);
  const std::string out = testing::AnnotationsOf(report);
  EXPECT_NE(out.find("::warning title=coder diag shutdown%3A memory budget::projected peak 30.4GiB is over the "
                     "17.0GiB budget for 9.000s (every target at 7.60GiB; computed, not measured)\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("::warning title=coder diag shutdown%3A order=patched%2Cgateway=on (regression)::p95 shutdown "
                     "latency is 3.50x the baseline order=unpatched,gateway=on's (95%25 interval 2.50x-4.00x)\n"),
            std::string::npos)
      << out;
}

TEST(AnnotationTest, EveryLineIsOneWorkflowCommand) {
  const std::string hostile = "evil\n::error::injected\r";
  json report = testing::FullSampleReport(hostile);
  report["gate"]["findings"][0]["message"] = hostile;
  const std::string out = testing::AnnotationsOf(report);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back(), '\n');
  for (const std::string& line : Lines(out))
    EXPECT_TRUE(line.starts_with("::error title=") || line.starts_with("::warning title=")) << line;
}

TEST(AnnotationTest, NothingToSayIsEmpty) {
  json report = testing::ReportOf(testing::MakeSampleExperiment());
  report["gate"] = json{{"fail_on", json::array()}, {"exit_code", 0}, {"findings", json::array()}};
  EXPECT_EQ(testing::AnnotationsOf(report), "");
  EXPECT_EQ(RenderGithubAnnotations(ReportDocument{}, InMemoryRuns({})), "") << "an empty document";
}

TEST(AnnotationTest, GithubActionsReadsTheEnvironment) {
  const char* old = std::getenv("GITHUB_ACTIONS");
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  ::setenv("GITHUB_ACTIONS", "true", 1);
  EXPECT_TRUE(GithubActions());
  ::setenv("GITHUB_ACTIONS", "false", 1);
  EXPECT_FALSE(GithubActions());
  ::unsetenv("GITHUB_ACTIONS");
  EXPECT_FALSE(GithubActions());
  if (saved) ::setenv("GITHUB_ACTIONS", saved->c_str(), 1);
}

}  // namespace
}  // namespace coder::harness
