#include "harness/report/markdown.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "common/file_util.h"
#include "tests/harness/report_fixture.h"
#include "tests/support/temp_dir.h"

namespace coder::harness {
namespace {

using nlohmann::json;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

/// Cells of a table row, splitting on pipes that are not backslash-escaped.
size_t CellCount(const std::string& row) {
  size_t pipes = 0;
  for (size_t i = 0; i < row.size(); ++i)
    if (row[i] == '|' && (i == 0 || row[i - 1] != '\\')) ++pipes;
  return pipes - 1;
}

TEST(MarkdownTest, StartsWithAOneLineVerdict) {
  const std::vector<std::string> failing = Lines(testing::MarkdownOf(testing::FullSampleReport()));
  ASSERT_GE(failing.size(), 3u);
  EXPECT_EQ(failing[0], "## coder diag shutdown");
  EXPECT_EQ(failing[2],
            "❌ **2 gated findings in order=patched,gateway=off (1), all variants together (1); 4 findings reported, "
            "not gated "
            "(exit 1)**");

  json report = testing::ReportOf(testing::MakeSampleExperiment());
  report["variants"][2]["spec"]["gated"] = false;
  report["meta"]["exit_code"] = 0;
  EXPECT_EQ(Lines(testing::MarkdownOf(report))[2],
            "✅ **no findings in gated variants; 6 findings reported, not gated (exit 0)**");

  report["meta"]["interrupted"] = true;
  report["meta"]["exit_code"] = 130;
  EXPECT_TRUE(
      Lines(testing::MarkdownOf(report))[2].starts_with("⚠️ **interrupted, partial report (12 runs recorded): "));
}

TEST(MarkdownTest, SummaryTableHasARowPerVariant) {
  const std::string md = testing::MarkdownOf(testing::FullSampleReport());
  EXPECT_TRUE(Contains(md,
                       "| variant | gate | runs | outcomes | latency min | p50 | p95 | p99 | max | ready p50 | "
                       "peak RSS p50 | peak RSS max | dominant step | fingerprints |\n"
                       "| --- | --- | --: | --- | --: | --: | --: | --: | --: | --: | --: | --: | --- | --- |\n"))
      << md;
  EXPECT_TRUE(Contains(md,
                       "| order=patched,gateway=on | gated | 4 | 4 clean | 1.25ms | 1.50ms | 8.00ms | 8.00ms | "
                       "8.00ms | 40.0ms | 5.0MiB | 5.0MiB | api-drain 500µs | - |\n"))
      << md;
  EXPECT_TRUE(Contains(md, "| order=unpatched,gateway=on | baseline | 4 | 4 timeout-fingerprint | 10.005s |"));
  EXPECT_TRUE(Contains(md, "| 4 latency-at-known-timeout, 4 websocket-shutdown-timeout |\n")) << md;
  EXPECT_TRUE(Contains(md, "| order=patched,gateway=off | gated | 4 | 1 slow, 3 clean | 1.00ms |")) << md;
}

TEST(MarkdownTest, HeldSlotsComparisonBudgetAndFindingsSections) {
  const std::string md = testing::MarkdownOf(testing::FullSampleReport());
  EXPECT_TRUE(Contains(md, "### Held wait-group slots")) << md;
  EXPECT_TRUE(Contains(md, "| order=unpatched,gateway=on | 4 | ai-gateway-rpc#1 (4 runs) |")) << md;

  EXPECT_TRUE(Contains(md, "### Against the baseline")) << md;
  EXPECT_TRUE(Contains(md, "| suite of 10 stops in shutdown | baseline suite of 10 stops | regression |")) << md;
  EXPECT_TRUE(Contains(md,
                       "| order=patched,gateway=on | order=unpatched,gateway=on | 1/6670x (1/8005x-1/5002x) | "
                       "1/1251x (1/5003x-1/1251x) | 0% | 100% | 1.00x | 15.0ms | 100.050s | no |"))
      << md;

  EXPECT_TRUE(Contains(md, "### Memory held by overlapping targets")) << md;
  EXPECT_TRUE(Contains(md, "| figure | measured | projected (every target at 7.60GiB) |")) << md;
  EXPECT_TRUE(Contains(md, "| peak total RSS | 22.0MiB at 1.250s | 30.4GiB at 1.250s |")) << md;
  EXPECT_TRUE(Contains(md, "| over budget | no | **yes**, for 9.000s |")) << md;
  EXPECT_TRUE(Contains(md, "| arrival rate × mean lifetime | 0.88/s × 4.000s = 3.50 | 0.88/s × 4.000s = 3.50 |")) << md;
  EXPECT_TRUE(Contains(md, "**Projected** figures are computed, not measured")) << md;

  EXPECT_TRUE(Contains(md, "### Findings")) << md;
  EXPECT_TRUE(Contains(md,
                       "| ❌ fails | order=patched,gateway=off | #2 | slow | slow: stopped in 6.000s, over the 5s "
                       "slow threshold |"))
      << md;
  EXPECT_TRUE(Contains(md, "| reported (baseline) | order=unpatched,gateway=on | #0 | fingerprint |")) << md;
  // Failing findings come first.
  EXPECT_LT(md.find("| ❌ fails |"), md.find("| reported (baseline) |"));
  EXPECT_TRUE(Contains(md, "### Notes\n\n- the kernel's peak RSS includes the harness's own image\n")) << md;
}

TEST(MarkdownTest, BudgetOfEachVariantIsATableOfItsOwn) {
  json report = testing::FullSampleReport();
  report["budget"]["variants"] = json::array({{{"variant", "order=patched,gateway=on"},
                                               {"measured", report["budget"]["measured"]},
                                               {"projected", report["budget"]["projected"]}},
                                              {{"variant", "order=unpatched,gateway=on"},
                                               {"measured", report["budget"]["measured"]},
                                               {"projected", nullptr}}});
  const std::string md = testing::MarkdownOf(report);
  EXPECT_TRUE(Contains(md,
                       "| variant | measured peak | projected peak | over budget | mean live = rate × lifetime | "
                       "mean tail (share) |"))
      << md;
  EXPECT_TRUE(Contains(md,
                       "| order=patched,gateway=on | 22.0MiB (tails 11.0MiB) | 30.4GiB (tails 15.2GiB) | **yes, "
                       "projected** | 3.50 = 0.88/s × 4.000s | 3.000s (75%) |"))
      << md;
  EXPECT_TRUE(Contains(md, "| order=unpatched,gateway=on | 22.0MiB (tails 11.0MiB) | - | no |")) << md;
}

TEST(MarkdownTest, SectionsWithoutDataAreLeftOut) {
  const std::string md = testing::MarkdownOf(testing::ReportOf(testing::MakeSampleExperiment()));
  EXPECT_FALSE(Contains(md, "### Against the baseline"));
  EXPECT_FALSE(Contains(md, "### Memory held"));
  EXPECT_TRUE(Contains(md, "No gate in this report")) << md;
  EXPECT_FALSE(Contains(RenderMarkdown(ReportDocument{}, InMemoryRuns({})), "### Findings")) << "an empty document";
}

TEST(MarkdownTest, TextFromTheReportCannotBreakTablesOrInjectMarkup) {
  json report = testing::FullSampleReport();
  report["variants"][0]["spec"]["name"] = "a|b <script>*x*`\n";
  const std::string md = testing::MarkdownOf(report);
  EXPECT_FALSE(Contains(md, "<script>"));
  int rows = 0;
  for (const std::string& line : Lines(md)) {
    if (!line.starts_with("| a\\|")) continue;
    ++rows;
    EXPECT_TRUE(line.starts_with("| a\\|b \\<script\\>\\*x\\*\\`  | gated |")) << line;
    EXPECT_EQ(CellCount(line), 14u) << line;
  }
  EXPECT_EQ(rows, 1);
  EXPECT_EQ(MarkdownEscape("50% [link](x) _y_ ~z~ &amp;\xff"), "50% \\[link\\](x) \\_y\\_ \\~z\\~ \\&amp;\xEF\xBF\xBD");
}

class MarkdownStepSummaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* old = std::getenv("GITHUB_STEP_SUMMARY");
    if (old) saved_ = old;
    path_ = dir_.path() / "step-summary.md";
  }
  void TearDown() override {
    if (saved_) ::setenv("GITHUB_STEP_SUMMARY", saved_->c_str(), 1);
    else ::unsetenv("GITHUB_STEP_SUMMARY");
  }
  test_support::TempDir dir_{"step-summary"};
  std::optional<std::string> saved_;
  std::filesystem::path path_;
};

TEST_F(MarkdownStepSummaryTest, AppendsToTheFileGithubStepSummaryNames) {
  ASSERT_EQ(::setenv("GITHUB_STEP_SUMMARY", path_.c_str(), 1), 0);
  ASSERT_TRUE(WriteFileAtomically(path_, "earlier step\n"));
  ASSERT_TRUE(AppendGithubStepSummary("## one\n"));
  ASSERT_TRUE(AppendGithubStepSummary("## two"));
  EXPECT_EQ(ReadFile(path_).value(), "earlier step\n## one\n## two\n");
}

TEST_F(MarkdownStepSummaryTest, IsANoOpWithoutTheVariable) {
  ASSERT_EQ(::unsetenv("GITHUB_STEP_SUMMARY"), 0);
  EXPECT_TRUE(AppendGithubStepSummary("## one\n"));
  ASSERT_EQ(::setenv("GITHUB_STEP_SUMMARY", "", 1), 0);
  EXPECT_TRUE(AppendGithubStepSummary("## one\n"));
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(MarkdownStepSummaryTest, ErrorNamesTheFile) {
  const std::string missing = (path_ / "no-such-dir" / "summary.md").string();
  ASSERT_EQ(::setenv("GITHUB_STEP_SUMMARY", missing.c_str(), 1), 0);
  const Status status = AppendGithubStepSummary("## one\n");
  ASSERT_FALSE(status);
  EXPECT_TRUE(Contains(status.error().message, missing)) << status.error().message;
}

TEST(MarkdownTest, CensoredLatenciesAndRatiosAreShownAsBoundsAndFixedTailsHaveASection) {
  const std::string md = testing::MarkdownOf(testing::TimeoutsReport());
  // hangs: min is the clean 12 ms stop, everything above it reaches the watchdog's kills.
  EXPECT_TRUE(Contains(md,
                       "| hangs | gated | 4 | 3 killed-by-watchdog, 1 clean | 12.0ms | ≥ 8.004s | ≥ 8.006s | "
                       "≥ 8.006s | ≥ 8.006s |"))
      << md;
  EXPECT_TRUE(Contains(md, "≥ marks a latency that is a lower bound: 3 runs killed by the watchdog")) << md;
  EXPECT_TRUE(Contains(md, "| go | gated | 3 | 3 clean | 3.002s | 3.003s | 3.004s | 3.004s | 3.004s |")) << md;
  EXPECT_TRUE(Contains(md, "### Fixed tails")) << md;
  EXPECT_TRUE(Contains(md, "| go | stops cluster at 3.003s (3 of 3 runs within 2.00ms) |")) << md;
  EXPECT_TRUE(Contains(md, "| hangs | quick | 1.20x (1.00x-inf) | ≥ 667x (667x-inf) |")) << md;
  EXPECT_TRUE(Contains(md, "| ≥ 80.050s | 110ms |")) << md;
  // The derived findings include the fixed tail, a finding of its own kind.
  EXPECT_TRUE(Contains(md,
                       "| fixed-tail | stops cluster at 3.003s (3 of 3 runs within 2.00ms): the signature of a "
                       "timeout |"))
      << md;
}

}  // namespace
}  // namespace coder::harness
