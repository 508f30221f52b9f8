#include "harness/report/report.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <limits>

#include <filesystem>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "tests/support/temp_dir.h"

namespace coder::harness {
namespace {

using nlohmann::json;

RunRecord MakeRun(const std::string& variant, int index, Outcome outcome, std::optional<double> latency_ms,
                  double ready_ms, uint64_t rss) {
  RunRecord r;
  r.variant = variant;
  r.index = index;
  r.outcome = outcome;
  r.latency_ms = latency_ms;
  r.ready_ms = ready_ms;
  r.tree_peak_rss_bytes = rss;
  r.kernel_peak_rss_bytes = rss + 1024;
  return r;
}

/// The built-in matrix in miniature: a fast patched variant, the unpatched baseline with its 10 s tail,
/// and a variant with mixed outcomes and no held slots.
struct Fixture {
  std::vector<VariantSpec> specs = {
      {.name = "gateway=on order=patched", .argv = {"coder", "server"}, .builtin_server = true},
      {.name = "gateway=on order=unpatched",
       .argv = {"coder", "server", "--shutdown-order", "unpatched"},
       .builtin_server = true,
       .gated = false,
       .baseline = true,
       .known_timeout_ms = 10'000},
      {.name = "gateway=off order=patched",
       .argv = {"coder", "server", "--ai-gateway-enabled=false"},
       .builtin_server = true},
  };
  std::vector<RunRecord> runs;
  std::vector<VariantSummary> summaries;

  Fixture() {
    const double patched_ms[] = {1.02, 1.20, 1.31, 1.18, 2.5};
    for (int i = 0; i < 5; ++i) {
      RunRecord r = MakeRun(specs[0].name, i, Outcome::kClean, patched_ms[i], 40 + i, (95 << 20) / 10 + i * 4096);
      r.steps = {{"api-drain", 0.089}, {"notifications", 0.58}, {"ai-gateway", 0.064}, {"websocket-wait", 0.015}};
      runs.push_back(r);
    }
    for (int i = 0; i < 5; ++i) {
      RunRecord r = MakeRun(specs[1].name, i, Outcome::kTimeoutFingerprint, 10'004 + i * 0.5, 41, 10 << 20);
      r.fingerprints = {"websocket-shutdown-timeout", "latency-at-known-timeout"};
      r.held_slots = {"ai-gateway-rpc#1"};
      r.steps = {{"api-drain", 0.07}, {"websocket-wait", 10'000.4}, {"ai-gateway", 0.1}};
      runs.push_back(r);
    }
    const double gateway_off_ms[] = {0.85, 0.9, 0.95, 600};
    for (int i = 0; i < 4; ++i)
      runs.push_back(
          MakeRun(specs[2].name, i, i == 3 ? Outcome::kSlow : Outcome::kClean, gateway_off_ms[i], 30, 7 << 20));
    RunRecord never = MakeRun(specs[2].name, 4, Outcome::kNeverReady, std::nullopt, 0, 0);
    never.ready_ms.reset();
    runs.push_back(never);

    for (const VariantSpec& spec : specs) {
      std::vector<RunRecord> mine;
      for (const RunRecord& r : runs)
        if (r.variant == spec.name) mine.push_back(r);
      summaries.push_back(SummarizeVariant(spec, mine));
    }
  }
};

TEST(ReportTest, SummaryTableOfAFixedInput) {
  const Fixture f;
  EXPECT_EQ(
      RenderSummaryTable(f.summaries),
      R"(                                                                            --------------- latency ---------------   ready  -- peak RSS ---
variant                     gate      runs  outcomes                            min     p50     p95     p99     max     p50      p50     max  dominant step           fingerprints
gateway=on order=patched    gated        5  5 clean                          1.02ms  1.20ms  2.50ms  2.50ms  2.50ms  42.0ms   9.5MiB  9.5MiB  notifications 580µs     -
gateway=on order=unpatched  baseline     5  5 timeout-fingerprint           10.004s 10.005s 10.006s 10.006s 10.006s  41.0ms  10.0MiB 10.0MiB  websocket-wait 10.000s  5 latency-at-known-timeout, 5 websocket-shutdown-timeout
gateway=off order=patched   gated        5  1 never-ready, 1 slow, 3 clean    850µs   900µs   600ms   600ms   600ms  30.0ms   7.0MiB  7.0MiB  -                       -

Fixed tails (stops clustered at one latency: the signature of a timeout):
  gateway=on order=unpatched  stops cluster at 10.005s (5 of 5 runs within 2.00ms)

Held wait-group slots, per variant with findings:
  gateway=on order=unpatched  5 of 5 runs with findings  ai-gateway-rpc#1 (5 runs)
  gateway=off order=patched   2 of 5 runs with findings  none named
)");
}

TEST(ReportTest, FormatRatioKeepsFarSmallRatiosReadable) {
  EXPECT_EQ(FormatRatio(1234.0), "1234x");
  EXPECT_EQ(FormatRatio(12.34), "12.3x");
  EXPECT_EQ(FormatRatio(0.98), "0.98x");
  EXPECT_EQ(FormatRatio(1.0 / 8338), "1/8338x");
  EXPECT_EQ(FormatRatio(std::numeric_limits<double>::infinity()), "-");
}

TEST(ReportTest, SummaryTableOfCleanVariantsHasNoFindingsBlock) {
  Fixture f;
  f.summaries.resize(1);
  const std::string table = RenderSummaryTable(f.summaries);
  EXPECT_EQ(table.find("Held wait-group slots"), std::string::npos);
  EXPECT_EQ(table.find("baseline"), std::string::npos);
  EXPECT_NE(table.find("5 clean"), std::string::npos);
}

TEST(ReportTest, HeldSlotsBlockSaysNoneNamedOnlyOfTheBuiltinServer) {
  Fixture f;
  // Another target whose run failed, and whose log could never have named a slot.
  f.summaries.push_back(SummarizeVariant(VariantSpec{.name = "sh", .argv = {"sh"}},
                                         {MakeRun("sh", 0, Outcome::kCrashed, 3.0, 10, 1 << 20)}));
  const std::string table = RenderSummaryTable(f.summaries);
  const size_t block = table.find("Held wait-group slots, per variant with findings:\n");
  ASSERT_NE(block, std::string::npos) << table;
  EXPECT_EQ(table.substr(block), R"(Held wait-group slots, per variant with findings:
  gateway=on order=unpatched  5 of 5 runs with findings  ai-gateway-rpc#1 (5 runs)
  gateway=off order=patched   2 of 5 runs with findings  none named
)");
  // Alone, it has no block at all.
  EXPECT_EQ(RenderSummaryTable({f.summaries.back()}).find("Held wait-group slots"), std::string::npos);
}

TEST(ReportTest, JsonHasTheSchemaTheVariantsAndEveryRun) {
  const Fixture f;
  ReportMeta meta;
  meta.coder_version = "0.1.0";
  meta.started_at = "2026-11-24T04:19:37.265Z";
  meta.wall_seconds = 12.5;
  meta.command_line = {"coder", "diag", "shutdown", "--runs", "5"};
  meta.options = {{"runs", 5}};
  meta.notes = {"a note"};
  const json j = ReportJson(meta, f.specs, f.summaries, f.runs);

  EXPECT_EQ(j["schema"], "coder.diag.shutdown/v1");
  EXPECT_EQ(j["meta"]["coder_version"], "0.1.0");
  EXPECT_EQ(j["meta"]["started_at"], "2026-11-24T04:19:37.265Z");
  EXPECT_EQ(j["meta"]["wall_seconds"], 12.5);
  EXPECT_EQ(j["meta"]["command_line"].size(), 5u);
  EXPECT_EQ(j["meta"]["options"]["runs"], 5);
  EXPECT_EQ(j["meta"]["interrupted"], false);
  EXPECT_EQ(j["meta"]["exit_code"], 0);
  EXPECT_EQ(j["meta"]["notes"], json::array({"a note"}));

  ASSERT_EQ(j["variants"].size(), 3u);
  const json& unpatched = j["variants"][1];
  EXPECT_EQ(unpatched["spec"]["name"], "gateway=on order=unpatched");
  EXPECT_EQ(unpatched["spec"]["baseline"], true);
  EXPECT_EQ(unpatched["spec"]["gated"], false);
  EXPECT_EQ(unpatched["spec"]["known_timeout_ms"], 10'000.0);
  EXPECT_EQ(unpatched["spec"]["argv"].size(), 4u);
  EXPECT_TRUE(j["variants"][0]["spec"]["known_timeout_ms"].is_null());
  EXPECT_EQ(unpatched["summary"]["outcomes"]["timeout-fingerprint"], 5);
  EXPECT_EQ(unpatched["summary"]["dominant_step"]["name"], "websocket-wait");

  ASSERT_EQ(j["runs"].size(), f.runs.size());
  for (size_t i = 0; i < f.runs.size(); ++i) EXPECT_EQ(RunRecord::FromJson(j["runs"][i]), f.runs[i]) << i;
}

TEST(ReportTest, VariantWithoutASummaryHasANullSummary) {
  const Fixture f;
  const json j = ReportJson(ReportMeta{}, f.specs, {}, {});
  ASSERT_EQ(j["variants"].size(), 3u);
  EXPECT_TRUE(j["variants"][0]["summary"].is_null());
  EXPECT_TRUE(j["runs"].is_array());
  EXPECT_TRUE(j["runs"].empty());
  EXPECT_TRUE(j["meta"]["options"].is_object());
}

TEST(ReportTest, WriteReportJsonWritesAParseableFileAndNamesThePathOnError) {
  const test_support::TempDir temp("report-test");
  const auto& dir = temp.path();
  const Fixture f;
  const json report = ReportJson(ReportMeta{}, f.specs, f.summaries, f.runs);
  const auto path = dir / "report.json";
  ASSERT_TRUE(WriteReportJson(path, report).ok());
  const auto text = ReadFile(path);
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(json::parse(*text), report);
  EXPECT_EQ(text->back(), '\n');

  const auto missing = dir / "no-such-dir" / "report.json";
  const Status failed = WriteReportJson(missing, report);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find(missing.string()), std::string::npos) << failed.error().message;
}

TEST(ReportTest, FormatBytesUsesBinaryUnits) {
  EXPECT_EQ(FormatBytes(0), "0B");
  EXPECT_EQ(FormatBytes(1023), "1023B");
  EXPECT_EQ(FormatBytes(1024), "1.0KiB");
  EXPECT_EQ(FormatBytes(512 * 1024), "512KiB");
  EXPECT_EQ(FormatBytes(9'961'472), "9.5MiB");
  EXPECT_EQ(FormatBytes(static_cast<uint64_t>(7.6 * (1ull << 30))), "7.60GiB");
  EXPECT_EQ(FormatBytes(17ull << 30), "17.0GiB");
  EXPECT_EQ(FormatBytes(100ull << 30), "100GiB");
  EXPECT_EQ(FormatBytes((1ull << 20) - 1), "1.0MiB");                          // not "1024KiB"
  EXPECT_EQ(FormatBytes(static_cast<uint64_t>(99.97 * (1 << 20))), "100MiB");  // not "100.0MiB"
  EXPECT_EQ(FormatBytes(3ull << 40), "3.00TiB");
}

TEST(ReportTest, DisplayWidthCountsCodePoints) {
  EXPECT_EQ(DisplayWidth("850\xC2\xB5s"), 5u);
  EXPECT_EQ(DisplayWidth(""), 0u);
  EXPECT_EQ(FormatMs(1.2), "1.20ms");
  EXPECT_EQ(FormatMs(10'004), "10.004s");
}

TEST(ReportTest, LatenciesThatWatchdogKillsReachAreLowerBoundsInTheTable) {
  std::vector<RunRecord> runs;
  for (int i = 0; i < 3; ++i) {
    runs.push_back(MakeRun("hangs", i, Outcome::kKilledByWatchdog, 8'004 + i, 30, 1 << 20));
    runs.back().watchdog_fired = true;
  }
  runs.push_back(MakeRun("hangs", 3, Outcome::kClean, 12, 30, 1 << 20));
  const std::string table = RenderSummaryTable({SummarizeVariant(VariantSpec{.name = "hangs"}, runs)});
  EXPECT_NE(table.find("12.0ms >= 8.004s >= 8.006s >= 8.006s >= 8.006s"), std::string::npos) << table;
  EXPECT_NE(table.find("\n>= marks a latency that is a lower bound: 3 runs killed by the watchdog would have stopped "
                       "no sooner, if at all.\n"),
            std::string::npos)
      << table;
  EXPECT_EQ(table.find("Fixed tails"), std::string::npos) << table;  // the watchdog's delay is not the target's
}

}  // namespace
}  // namespace coder::harness
