#include "harness/report/merge.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "harness/analysis/stats.h"
#include "harness/report/report.h"
#include "tests/harness/report_fixture.h"

namespace coder::harness {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::vector<VariantSummary> Summaries(const std::vector<VariantSpec>& specs, const std::vector<RunRecord>& runs) {
  std::vector<VariantSummary> out;
  for (const VariantSpec& spec : specs) {
    std::vector<RunRecord> mine;
    for (const RunRecord& r : runs)
      if (r.variant == spec.name) mine.push_back(r);
    out.push_back(SummarizeVariant(spec, mine));
  }
  return out;
}

/// Runs with random outcomes and measurements. Every value is a multiple of 1/8 well below 2^40, so
/// sums (and so means) are exact in any order: the property compares merged and direct summaries
/// exactly, and the order in which a merge sees runs must not matter.
std::vector<RunRecord> RandomRuns(const std::vector<VariantSpec>& specs, std::mt19937_64& rng) {
  auto eighths = [&](int max) { return static_cast<double>(std::uniform_int_distribution<int>(0, max * 8)(rng)) / 8; };
  std::vector<RunRecord> runs;
  std::vector<int> next_index(specs.size());
  const int n = std::uniform_int_distribution<int>(1, 40)(rng);
  for (int k = 0; k < n; ++k) {
    const size_t v = std::uniform_int_distribution<size_t>(0, specs.size() - 1)(rng);
    RunRecord r;
    r.variant = specs[v].name;
    r.index = next_index[v]++;
    r.outcome = kAllOutcomes[std::uniform_int_distribution<size_t>(0, std::size(kAllOutcomes) - 1)(rng)];
    r.detail = "run " + std::to_string(k);
    if (rng() % 4) r.ready_ms = eighths(100);
    if (rng() % 4) r.latency_ms = eighths(20'000);
    r.launch_ms = eighths(5'000);
    r.tree_peak_rss_bytes = rng() % 3 ? (rng() % 1000) << 20 : 0;
    r.kernel_peak_rss_bytes = rng() % 3 ? (rng() % 1000) << 20 : 0;
    if (rng() % 2) r.fingerprints = {"websocket-shutdown-timeout"};
    if (rng() % 3 == 0) r.fingerprints.push_back("user-fp");
    if (rng() % 2) r.steps = {{"api-drain", eighths(10)}, {"websocket-wait", eighths(10'000)}};
    if (rng() % 3 == 0) r.held_slots = {"ai-gateway-rpc#" + std::to_string(rng() % 3)};
    r.log_tail = {"line " + std::to_string(k)};
    runs.push_back(r);
  }
  return runs;
}

/// A report's runs as a sorted list of their JSON without the keys a merge renumbers or adds.
std::vector<std::string> NormalisedRuns(const json& report) {
  std::vector<std::string> out;
  for (json run : report["runs"]) {
    run.erase("index");
    run.erase("source");
    run.erase("source_index");
    out.push_back(run.dump());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(MergeTest, MergingTwoHalvesEqualsTheReportOfAllRuns) {
  const std::vector<VariantSpec> specs = {
      {.name = "order=patched,gateway=on", .argv = {"coder", "server"}, .builtin_server = true},
      {.name = "order=unpatched,gateway=on",
       .argv = {"coder", "server", "--shutdown-order", "unpatched"},
       .builtin_server = true,
       .gated = false,
       .baseline = true,
       .known_timeout_ms = 10'000},
      {.name = "fixed", .argv = {"./server", "--port", "{port}"}},
  };
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    const std::vector<RunRecord> all = RandomRuns(specs, rng);
    std::vector<RunRecord> halves[2];
    for (const RunRecord& r : all) halves[rng() % 2].push_back(r);

    ReportMeta meta;
    const json direct = ReportJson(meta, specs, Summaries(specs, all), all);
    std::vector<json> inputs;
    for (const auto& half : halves) inputs.push_back(ReportJson(meta, specs, Summaries(specs, half), half));
    const auto merged = MergeReports(inputs);
    ASSERT_TRUE(merged) << merged.error().message;

    EXPECT_EQ((*merged)["variants"], direct["variants"]);
    EXPECT_EQ(NormalisedRuns(*merged), NormalisedRuns(direct));
    // Indexes are unique and 0-based within each variant.
    for (const VariantSpec& spec : specs) {
      std::vector<int> indexes;
      for (const json& r : (*merged)["runs"])
        if (r["variant"] == spec.name) indexes.push_back(r["index"].get<int>());
      std::sort(indexes.begin(), indexes.end());
      for (size_t i = 0; i < indexes.size(); ++i) EXPECT_EQ(indexes[i], static_cast<int>(i));
    }
  }
}

TEST(MergeTest, RenumbersRunsAfterEarlierInputsAndRecordsTheirSource) {
  const auto e = testing::MakeSampleExperiment();
  const json report = testing::ReportOf(e);
  const auto merged = MergeReports({report, report});
  ASSERT_TRUE(merged) << merged.error().message;
  const json& runs = (*merged)["runs"];
  ASSERT_EQ(runs.size(), 24u);
  EXPECT_EQ(runs[0]["index"], 0);
  EXPECT_EQ(runs[0]["source"], 0);
  EXPECT_EQ(runs[12]["variant"], "order=patched,gateway=on");
  EXPECT_EQ(runs[12]["index"], 4);
  EXPECT_EQ(runs[12]["source"], 1);
  EXPECT_EQ(runs[12]["source_index"], 0);
  EXPECT_EQ(runs[12]["launch_ms"], runs[0]["launch_ms"]);  // other keys are kept as they were
  EXPECT_EQ((*merged)["variants"][2]["summary"]["runs"], 8);
  EXPECT_EQ((*merged)["variants"][2]["summary"]["outcomes"]["slow"], 2);
}

TEST(MergeTest, MergesMetaAndDropsTheBudgetWithANote) {
  json a = testing::FullSampleReport();
  json b = testing::ReportOf(testing::MakeSampleExperiment());
  b["meta"]["started_at"] = "2026-11-24T03:00:00.000Z";
  b["meta"]["wall_seconds"] = 99.5;
  b["meta"]["interrupted"] = true;
  b["meta"]["exit_code"] = 130;
  b["meta"]["coder_version"] = "0.2.0";
  b["meta"]["notes"] = json::array({"shard 2"});
  const auto merged = MergeReports({a, b});
  ASSERT_TRUE(merged) << merged.error().message;
  const json& meta = (*merged)["meta"];
  EXPECT_EQ(meta["started_at"], "2026-11-24T03:00:00.000Z");
  EXPECT_EQ(meta["wall_seconds"], 99.5);
  EXPECT_EQ(meta["interrupted"], true);
  EXPECT_EQ(meta["exit_code"], 130);
  EXPECT_EQ(meta["coder_version"], "0.1.0");
  EXPECT_EQ(meta["command_line"], a["meta"]["command_line"]);
  const std::vector<std::string> notes = meta["notes"];
  const std::vector<std::string> expected = {
      "merged 2 reports; runs from each, in order: 12, 12",
      "the reports were written by different coder versions (0.1.0, 0.2.0); coder_version is report 1's",
      "budget dropped: runs from different machines or shards share no clock, so their RSS timelines cannot be "
      "summed; each report's own budget still holds for its machine",
      "report 1: the kernel's peak RSS includes the harness's own image",
      "report 2: shard 2",
  };
  EXPECT_EQ(notes, expected);
  EXPECT_TRUE((*merged)["budget"].is_null());
  EXPECT_TRUE((*merged)["comparisons"].is_null());
  EXPECT_TRUE((*merged)["gate"].is_null());
  EXPECT_EQ((*merged)["schema"], "coder.diag.shutdown/v1");
}

TEST(MergeTest, RejectsAWrongSchemaNamingTheInput) {
  const json good = testing::ReportOf(testing::MakeSampleExperiment());
  json wrong = good;
  wrong["schema"] = "coder.diag.shutdown/v2";
  auto merged = MergeReports({good, good, wrong});
  ASSERT_FALSE(merged);
  EXPECT_EQ(merged.error().message,
            "report 3 of 3: schema \"coder.diag.shutdown/v2\" is not coder.diag.shutdown/v1, "
            "which this version reads");
  wrong.erase("schema");
  merged = MergeReports({wrong, good});
  ASSERT_FALSE(merged);
  EXPECT_EQ(merged.error().message, "report 1 of 2: no \"schema\" string, so not a coder.diag.shutdown/v1 report");
  merged = MergeReports({good, json::array()});
  ASSERT_FALSE(merged);
  EXPECT_EQ(merged.error().message, "report 2 of 2: not a JSON object, so not a coder diag shutdown report");
  EXPECT_FALSE(MergeReports({}));
}

TEST(MergeTest, RejectsDisagreeingSpecs) {
  const json good = testing::ReportOf(testing::MakeSampleExperiment());
  json other = good;
  other["variants"][1]["spec"]["argv"] = json::array({"old/coder", "server"});
  other["variants"][1]["spec"]["known_timeout_ms"] = 5000;
  const auto merged = MergeReports({good, other});
  ASSERT_FALSE(merged);
  EXPECT_EQ(merged.error().message,
            "variant \"order=unpatched,gateway=on\" has different specs in report 1 of 2 and report 2 of 2 (argv, "
            "known_timeout_ms differ): only runs of the same command can be merged");
}

TEST(MergeTest, BuiltinServerSpecsDifferingOnlyInTheCoderBinarysPathAreOneVariant) {
  const json first = testing::ReportOf(testing::MakeSampleExperiment());
  auto with_argv0 = [](json report, const std::string& argv0, bool builtin) {
    for (json& v : report["variants"]) {
      v["spec"]["argv"][0] = argv0;
      v["spec"]["builtin_server"] = builtin;
    }
    return report;
  };
  const json other = with_argv0(first, "/ci/checkout-2/build/cli/coder", true);
  const auto merged = MergeReports({first, other});
  ASSERT_TRUE(merged) << merged.error().message;
  ASSERT_EQ((*merged)["variants"].size(), first["variants"].size());
  for (size_t k = 0; k < first["variants"].size(); ++k)
    EXPECT_EQ((*merged)["variants"][k]["spec"], first["variants"][k]["spec"]) << "the first input's spec";
  EXPECT_EQ((*merged)["runs"].size(), 2 * first["runs"].size());
  // Only the built-in server's argv[0] is the coder binary; a foreign command's argv[0] is its program.
  const auto foreign =
      MergeReports({with_argv0(first, "/ci/1/server", false), with_argv0(first, "/ci/2/server", false)});
  ASSERT_FALSE(foreign);
  EXPECT_THAT(foreign.error().message, HasSubstr("(argv differ)"));
}

TEST(MergeTest, RejectsRunsThatAreNotRecordsOfAListedVariant) {
  const json good = testing::ReportOf(testing::MakeSampleExperiment());
  json bad = good;
  bad["runs"][3]["outcome"] = "exploded";
  auto merged = MergeReports({good, bad});
  ASSERT_FALSE(merged);
  EXPECT_EQ(merged.error().message, "report 2 of 2: runs[3] is not a valid run record");
  bad = good;
  bad["runs"][0]["variant"] = "nowhere";
  merged = MergeReports({bad});
  ASSERT_FALSE(merged);
  EXPECT_EQ(merged.error().message,
            "report 1 of 1: runs[0] is of variant \"nowhere\", which that report does not list");
}

TEST(MergeTest, UnionsVariantsInOrderOfFirstAppearance) {
  const auto e = testing::MakeSampleExperiment();
  json first = testing::ReportOf(e);
  json second = first;
  // The first input lacks the third variant and its runs.
  first["variants"].erase(2);
  json kept = json::array();
  for (const json& r : first["runs"])
    if (r["variant"] != "order=patched,gateway=off") kept.push_back(r);
  first["runs"] = kept;
  const auto merged = MergeReports({first, second});
  ASSERT_TRUE(merged) << merged.error().message;
  ASSERT_EQ((*merged)["variants"].size(), 3u);
  EXPECT_EQ((*merged)["variants"][2]["spec"]["name"], "order=patched,gateway=off");
  EXPECT_EQ((*merged)["variants"][2]["summary"]["runs"], 4);
  EXPECT_EQ((*merged)["variants"][0]["summary"]["runs"], 8);
}

}  // namespace
}  // namespace coder::harness

namespace coder::harness {
namespace {

TEST(MergeTest, AnInputWithABadKeyIsRefusedNamingTheInputAndTheKey) {
  const json good = testing::ReportOf(testing::MakeSampleExperiment());
  json bad = good;
  bad["variants"][2]["summary"]["latency_ms"]["p99"] = "fast";
  const auto merged = MergeReports({good, bad});
  ASSERT_FALSE(merged);
  EXPECT_EQ(merged.error().message,
            "report 2 of 2: variants[2].summary.latency_ms.p99: a number or null, found a string");
}

TEST(MergeTest, WhatItWritesIsAValidReport) {
  const json good = testing::ReportOf(testing::MakeSampleExperiment());
  const auto merged = MergeReports({good, good});
  ASSERT_TRUE(merged) << merged.error().message;
  const auto document = ReadReportDocument(*merged);
  EXPECT_TRUE(document) << document.error().message;
  const auto runs = ReadReportRuns(*merged);
  ASSERT_TRUE(runs) << runs.error().message;
  EXPECT_EQ(runs->size(), 2 * good["runs"].size());
}

}  // namespace
}  // namespace coder::harness
