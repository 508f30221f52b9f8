#include "harness/report/report_document.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "tests/harness/report_fixture.h"

namespace coder::harness {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json Outline(json report) {
  report.erase("runs");
  return report;
}

std::string ReadError(const json& report) {
  auto d = ReadReportDocument(report);
  return d ? std::string("(read without an error)") : d.error().message;
}

json ReadFixture(const std::string& name) {
  std::ifstream in(std::string(CODER_SOURCE_DIR) + "/tests/fixtures/" + name);
  return json::parse(in);
}

TEST(ReportDocumentTest, ReadingWhatItWroteGivesTheSameDocument) {
  // The fixtures are written by hand (some numbers as integers, keys added within v1 left out), so the
  // document they read as is the starting point: what it writes reads back as itself, through text too.
  for (const json& report : {testing::FullSampleReport(), testing::TimeoutsReport()}) {
    const auto d = ReadReportDocument(report);
    ASSERT_TRUE(d) << d.error().message;
    const json written = ReportDocumentJson(*d);
    const auto again = ReadReportDocument(json::parse(written.dump()));
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(ReportDocumentJson(*again), written);
    EXPECT_EQ(written["variants"], Outline(report)["variants"]) << "the harness-written part is kept exactly";
    EXPECT_EQ(written["meta"], Outline(report)["meta"]);
  }
}

TEST(ReportDocumentTest, TheCheckedInExampleReportsAreValid) {
  for (const char* name : {"diag-report.json", "diag-report-runs-only.json"}) {
    const json report = ReadFixture(name);
    const auto d = ReadReportDocument(report);
    EXPECT_TRUE(d) << name << ": " << d.error().message;
    const auto runs = ReadReportRuns(report);
    EXPECT_TRUE(runs) << name << ": " << runs.error().message;
  }
}

TEST(ReportDocumentTest, TypedMembersHoldWhatTheKeysSay) {
  const auto d = ReadReportDocument(testing::FullSampleReport());
  ASSERT_TRUE(d) << d.error().message;
  ASSERT_EQ(d->variants.size(), 3u);
  const ReportVariant* unpatched = d->FindVariant("order=unpatched,gateway=on");
  ASSERT_NE(unpatched, nullptr);
  EXPECT_TRUE(unpatched->spec.baseline);
  EXPECT_FALSE(unpatched->spec.gated);
  EXPECT_EQ(unpatched->spec.labels.at("order"), "unpatched");
  ASSERT_TRUE(unpatched->summary);
  EXPECT_TRUE(unpatched->summary->builtin_server) << "taken from the spec, which holds it";
  EXPECT_EQ(unpatched->summary->outcomes.at(Outcome::kTimeoutFingerprint), 4u);
  EXPECT_EQ(unpatched->summary->latency_ms.n, 4u);
  EXPECT_DOUBLE_EQ(unpatched->summary->latency_ms.max, 10'006);
  EXPECT_EQ(unpatched->summary->held_slots.at("ai-gateway-rpc#1"), 4u);
  ASSERT_TRUE(d->budget);
  EXPECT_EQ(d->budget->budget_bytes, uint64_t{17} << 30);
  ASSERT_TRUE(d->budget->projected);
  EXPECT_TRUE(d->budget->projected->over_budget);
  ASSERT_TRUE(d->comparisons);
  EXPECT_EQ(d->comparisons->size(), 2u);
  ASSERT_TRUE(d->gate);
  EXPECT_EQ(d->gate->exit_code, 1);
  EXPECT_FALSE(d->gate->findings.empty());
  EXPECT_EQ(d->FindVariant("no such variant"), nullptr);
}

TEST(ReportDocumentTest, AMissingRequiredKeyIsAnErrorNamingItsPath) {
  json report = testing::FullSampleReport();
  report["variants"][1]["summary"]["latency_ms"].erase("p95");
  EXPECT_EQ(ReadError(report), "variants[1].summary.latency_ms.p95: a number or null, missing");
  report = testing::FullSampleReport();
  report["meta"].erase("started_at");
  EXPECT_EQ(ReadError(report), "meta.started_at: a string, missing");
  report = testing::FullSampleReport();
  report.erase("variants");
  EXPECT_EQ(ReadError(report), "variants: an array, missing");
}

TEST(ReportDocumentTest, AValueOfAnotherTypeIsAnErrorNamingItsPathAndWhatWasFound) {
  json report = testing::FullSampleReport();
  report["meta"]["exit_code"] = "1";
  EXPECT_EQ(ReadError(report), "meta.exit_code: an integer, found a string");
  report = testing::FullSampleReport();
  report["variants"][0]["spec"]["gated"] = 1;
  EXPECT_EQ(ReadError(report), "variants[0].spec.gated: a boolean, found a number");
  report = testing::FullSampleReport();
  report["variants"][2]["summary"]["runs"] = -1;
  EXPECT_EQ(ReadError(report), "variants[2].summary.runs: a non-negative integer, found a number");
  report = testing::FullSampleReport();
  report["budget"]["measured"]["timeline"][1] = json::array({1, 2});
  EXPECT_EQ(ReadError(report),
            "budget.measured.timeline[1]: an array [t_ms, total_bytes, tail_bytes, live], found an array");
  report = testing::FullSampleReport();
  report["gate"]["findings"][0]["kind"] = "fingerprnt";
  EXPECT_EQ(ReadError(report), "gate.findings[0].kind: a finding kind, found \"fingerprnt\"");
  report = testing::FullSampleReport();
  report["variants"][0]["summary"]["outcomes"]["exploded"] = 1;
  EXPECT_EQ(ReadError(report), "variants[0].summary.outcomes.exploded: an outcome name, found \"exploded\"");
}

TEST(ReportDocumentTest, AStatisticOfAMeasuredDistributionCannotBeNull) {
  json report = testing::FullSampleReport();
  report["variants"][0]["summary"]["latency_ms"]["p50"] = nullptr;
  EXPECT_EQ(ReadError(report), "variants[0].summary.latency_ms.p50: a number (n > 0), found null");
}

TEST(ReportDocumentTest, AnotherSchemaVersionIsRefusedSayingWhichItReads) {
  json report = testing::FullSampleReport();
  report["schema"] = "coder.diag.shutdown/v2";
  EXPECT_EQ(
      ReadError(report),
      "schema: \"coder.diag.shutdown/v2\" is not a version this harness reads (it reads \"coder.diag.shutdown/v1\")");
  EXPECT_EQ(ReadError(json::array()), "the report: an object, found an array");
}

TEST(ReportDocumentTest, KeysAddedWithinTheVersionMayBeAbsentInAnOlderFile) {
  json report = testing::FullSampleReport();
  for (json& v : report["variants"]) {
    v["spec"].erase("labels");
    v["summary"].erase("fixed_tail");
    for (const char* d : {"latency_ms", "ready_ms", "tree_peak_rss_bytes", "kernel_peak_rss_bytes"}) {
      v["summary"][d].erase("censored");
      v["summary"][d].erase("lower_bounds");
    }
  }
  for (json& c : report["comparisons"]) {
    c["p95_ratio"].erase("bound");
    c.erase("suite_shutdown_lower_bound");
  }
  report.erase("budget");
  report.erase("gate");
  const auto d = ReadReportDocument(report);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_TRUE(d->variants[0].spec.labels.empty());
  EXPECT_FALSE(d->budget);
  EXPECT_FALSE(d->gate);
  EXPECT_EQ(d->comparisons->at(0).p95_ratio->bound, RatioEstimate::Bound::kEstimate);
}

TEST(ReportDocumentTest, UnknownKeysAreIgnored) {
  json report = testing::FullSampleReport();
  report["from_a_newer_harness"] = {{"x", 1}};
  report["variants"][0]["summary"]["new_statistic"] = 3;
  const auto d = ReadReportDocument(report);
  ASSERT_TRUE(d) << d.error().message;
  const auto without = ReadReportDocument(testing::FullSampleReport());
  ASSERT_TRUE(without);
  EXPECT_EQ(ReportDocumentJson(*d), ReportDocumentJson(*without));
}

TEST(ReportDocumentTest, RunsAreReadStrictlyNamingTheBadOne) {
  json report = testing::FullSampleReport();
  const auto runs = ReadReportRuns(report);
  ASSERT_TRUE(runs) << runs.error().message;
  EXPECT_EQ(runs->size(), report["runs"].size());
  report["runs"][4]["outcome"] = "exploded";
  EXPECT_THAT(ReadReportRuns(report).error().message, HasSubstr("runs[4]: not a run record"));
  report.erase("runs");
  EXPECT_EQ(ReadReportRuns(report).error().message, "runs: an array, missing");
}

}  // namespace
}  // namespace coder::harness
