// The history section of a report (`--history`): its JSON round trip, and how JUnit and Markdown carry
// the verdicts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/report/report_document.h"
#include "tests/harness/report_fixture.h"
#include "tests/harness/xml_check.h"

namespace coder::harness {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using testing::XmlCheck;
using testing::XmlElement;

json Verdict(const std::string& verdict, uint64_t before_hits, uint64_t since_hits, const std::string& sentence) {
  return {{"selector", "fingerprint"},
          {"name", "websocket-shutdown-timeout"},
          {"variant", "order=patched,gateway=on"},
          {"since", "3f2a1c"},
          {"since_at", "2026-12-01T00:00:00.000Z"},
          {"verdict", verdict},
          {"before", {{"hits", before_hits}, {"runs", 388}, {"lower", 0.007}, {"upper", 0.037}}},
          {"after", {{"hits", since_hits}, {"runs", 412}, {"lower", 0.0}, {"upper", 0.009}}},
          {"p_value", 0.006},
          {"confidence", 0.95},
          {"more_clean_runs", nullptr},
          {"sentence", sentence}};
}

json WithHistory() {
  json report = testing::FullSampleReport();
  report["history"] = {{"location", "postgresql://ci:***@db/history"},
                       {"added", 12},
                       {"already", 3},
                       {"verdicts",
                        {Verdict("stopped", 7, 0, "it stopped."), Verdict("still-recurring", 7, 2, "it still recurs."),
                         Verdict("not-enough-evidence", 1, 0, "it may have stopped.")}}};
  return report;
}

TEST(ReportHistoryTest, TheHistorySectionReadsBackAsWritten) {
  const auto d = ReadReportDocument(WithHistory());
  ASSERT_TRUE(d) << d.error().message;
  ASSERT_TRUE(d->history);
  EXPECT_EQ(d->history->added, 12u);
  ASSERT_EQ(d->history->verdicts.size(), 3u);
  const HistoryVerdict& first = d->history->verdicts[0];
  EXPECT_EQ(first.check.verdict, RecurrenceVerdict::kStopped);
  EXPECT_EQ(first.check.before.hits, 7u);
  EXPECT_EQ(first.check.since.runs, 412u);
  EXPECT_DOUBLE_EQ(first.check.p_value, 0.006);
  const json written = ReportDocumentJson(*d);
  EXPECT_EQ(written["history"], WithHistory()["history"]);
  EXPECT_TRUE(ReportDocumentJson(*ReadReportDocument(testing::FullSampleReport()))["history"].is_null());
}

TEST(ReportHistoryTest, ABadVerdictIsAnErrorNamingItsPath) {
  json report = WithHistory();
  report["history"]["verdicts"][1]["verdict"] = "maybe";
  const auto d = ReadReportDocument(report);
  ASSERT_FALSE(d);
  EXPECT_THAT(d.error().message, HasSubstr("history.verdicts[1].verdict"));
  report = WithHistory();
  report["history"]["verdicts"][0]["before"]["hits"] = "seven";
  EXPECT_THAT(ReadReportDocument(report).error().message, HasSubstr("history.verdicts[0].before.hits"));
}

TEST(ReportHistoryTest, JunitMirrorsEachVerdictPassedFailedOrSkipped) {
  std::string error;
  const auto root = XmlCheck::Parse(testing::JunitOf(WithHistory()), &error);
  ASSERT_TRUE(root) << error;
  const XmlElement* suite = root->Child("testsuite");
  ASSERT_NE(suite, nullptr);
  std::vector<const XmlElement*> history;
  for (const XmlElement* tc : suite->Children("testcase"))
    if (tc->Attribute("name").rfind("history: ", 0) == 0) history.push_back(tc);
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0]->Attribute("name"),
            "history: fingerprint websocket-shutdown-timeout in order=patched,gateway=on since 3f2a1c");
  EXPECT_FALSE(history[0]->Child("failure"));
  EXPECT_FALSE(history[0]->Child("skipped"));
  ASSERT_TRUE(history[1]->Child("failure"));
  EXPECT_EQ(history[1]->Child("failure")->Attribute("type"), "still-recurring");
  ASSERT_TRUE(history[2]->Child("skipped"));
  EXPECT_EQ(history[2]->Child("skipped")->Attribute("message"), "it may have stopped.");
  EXPECT_EQ(suite->Attribute("skipped"), "1");
  // The sample's own failures (3) and the still-recurring verdict.
  EXPECT_EQ(suite->Attribute("failures"), "4");
}

TEST(ReportHistoryTest, MarkdownHasAHistorySectionWithEverySentence) {
  const std::string md = testing::MarkdownOf(WithHistory());
  EXPECT_THAT(md, HasSubstr("### History"));
  EXPECT_THAT(md, HasSubstr("12 runs added to postgresql://ci:\\*\\*\\*@db/history (3 already in it)."));
  EXPECT_THAT(md, HasSubstr("- it stopped.\n"));
  EXPECT_THAT(md, HasSubstr("- **it still recurs.**\n"));
  EXPECT_THAT(testing::MarkdownOf(testing::FullSampleReport()), ::testing::Not(HasSubstr("### History")));
}

}  // namespace
}  // namespace coder::harness
