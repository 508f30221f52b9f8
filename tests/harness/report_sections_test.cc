// The one rule for the optional parts of a report, and the renderers that follow it.
#include "harness/report/report_sections.h"

#include <gtest/gtest.h>

#include "harness/report/junit.h"
#include "harness/report/markdown.h"
#include "harness/report/report.h"
#include "tests/harness/report_fixture.h"

namespace coder::harness {
namespace {

using nlohmann::json;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

/// A report of one foreign target with a failed run: nothing the built-in server's log would fill.
json ForeignReport() {
  json report = testing::ReportOf(testing::MakeSampleExperiment());
  for (json& v : report["variants"]) {
    v["summary"]["held_slots"] = json::object();
    v["summary"]["dominant_step"] = nullptr;
  }
  return report;
}

TEST(ReportSectionsTest, SlotsAndStepsOnlyWhenSomeRunsLogHadThem) {
  EXPECT_EQ(testing::SectionsOf(ForeignReport()), ReportSections{});
  const json sample = testing::ReportOf(testing::MakeSampleExperiment());
  const ReportSections s = testing::SectionsOf(sample);
  EXPECT_TRUE(s.held_slots);
  EXPECT_TRUE(s.dominant_step);
  EXPECT_FALSE(s.memory);  // closed loop, no budget
  EXPECT_EQ(ChooseSections(ReportDocument{}), ReportSections{}) << "an empty document";
}

TEST(ReportSectionsTest, MemoryOnlyForAnOpenLoopOrABudgetOrAnAssumedRss) {
  json report = ForeignReport();
  report["budget"] = testing::SampleBudget();
  EXPECT_TRUE(testing::SectionsOf(report).memory);  // it has a 17 GiB budget
  report["budget"]["budget_bytes"] = nullptr;
  EXPECT_TRUE(testing::SectionsOf(report).memory);  // and an assumed RSS
  report["budget"]["assume_rss_bytes"] = nullptr;
  EXPECT_FALSE(testing::SectionsOf(report).memory);
  report["meta"]["options"]["arrival_interval_ms"] = 200.0;
  EXPECT_TRUE(testing::SectionsOf(report).memory);
}

TEST(ReportSectionsTest, EveryRendererLeavesOutWhatTheRuleLeavesOut) {
  json report = ForeignReport();
  report["budget"] = testing::SampleBudget();
  report["budget"]["budget_bytes"] = nullptr;
  report["budget"]["assume_rss_bytes"] = nullptr;
  const std::string md = testing::MarkdownOf(report);
  EXPECT_FALSE(Contains(md, "dominant step")) << md;
  EXPECT_FALSE(Contains(md, "### Held wait-group slots"));
  EXPECT_FALSE(Contains(md, "### Memory held"));
  EXPECT_TRUE(Contains(md,
                       "| peak RSS max | fingerprints |\n| --- | --- | --: | --- | --: | --: | --: | --: | --: | --: "
                       "| --: | --: | --- |\n"))
      << md;
  EXPECT_FALSE(Contains(testing::JunitOf(report), "name=\"budget\""));

  const auto e = testing::MakeSampleExperiment();
  std::vector<VariantSummary> summaries;
  for (const auto& spec : e.specs) {
    std::vector<RunRecord> mine;
    for (const auto& r : e.runs)
      if (r.variant == spec.name) mine.push_back(r);
    summaries.push_back(SummarizeVariant(spec, mine));
    summaries.back().dominant_step.reset();
    summaries.back().held_slots.clear();
  }
  const std::string table = RenderSummaryTable(summaries);
  EXPECT_FALSE(Contains(table, "dominant step")) << table;
  EXPECT_FALSE(Contains(table, "Held wait-group slots")) << table;
  EXPECT_TRUE(Contains(table, "fingerprints\n")) << table;
}

}  // namespace
}  // namespace coder::harness
