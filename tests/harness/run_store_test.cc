// The run store keeps an experiment's runs on disk so that memory stays bounded whatever the run
// count; the streamed JSON report it feeds is the same text as the whole document's.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "common/file_util.h"
#include "harness/analysis/budget.h"
#include "harness/analysis/variant_tally.h"
#include "harness/report/junit.h"
#include "harness/report/report.h"
#include "harness/report/run_store.h"
#include "tests/support/temp_dir.h"

namespace coder::harness {
namespace {

using test_support::TempDir;
using ::testing::HasSubstr;

RunRecord MakeRun(const std::string& variant, int index, Outcome outcome = Outcome::kClean) {
  RunRecord r;
  r.variant = variant;
  r.index = index;
  r.outcome = outcome;
  r.detail = outcome == Outcome::kClean ? "exited 0 after the signal" : "exit 3 after the signal";
  r.latency_ms = 1.5 + index;
  r.log_tail = {"line of " + variant};
  return r;
}

std::vector<std::pair<std::string, int>> Order(const RunSource& runs) {
  std::vector<std::pair<std::string, int>> seen;
  EXPECT_TRUE(runs.ForEach([&](const RunRecord& r) -> Status {
                    seen.emplace_back(r.variant, r.index);
                    return Ok{};
                  })
                  .ok());
  return seen;
}

TEST(RunStoreTest, ReadsRunsBackInReportOrderWhateverOrderTheyFinished) {
  TempDir dir("run-store");
  auto store = RunStore::Open(dir.path(), {"b", "a"});
  ASSERT_TRUE(store) << store.error().message;
  for (const auto& [variant, index] : std::vector<std::pair<std::string, int>>{{"a", 1}, {"b", 1}, {"a", 0}, {"b", 0}})
    ASSERT_TRUE((*store)->Add(MakeRun(variant, index)).ok());
  EXPECT_EQ((*store)->size(), 4u);
  const std::vector<std::pair<std::string, int>> expected = {{"b", 0}, {"b", 1}, {"a", 0}, {"a", 1}};
  EXPECT_EQ(Order(**store), expected);
  // A run that finishes after a read is still put in its place.
  ASSERT_TRUE((*store)->Add(MakeRun("b", 2)).ok());
  EXPECT_EQ(Order(**store)[2], (std::pair<std::string, int>{"b", 2}));
}

TEST(RunStoreTest, ARunReadsBackAsItWasAdded) {
  TempDir dir("run-store");
  auto store = RunStore::Open(dir.path(), {"a"}, 0);  // through the file
  ASSERT_TRUE(store);
  RunRecord r = MakeRun("a", 3, Outcome::kCrashed);
  r.log = RunLog{.clock = LogClock::kSignal, .lines = {{-1.5, 2, "bye"}}};
  r.rss_timeline = {{1, 4096}, {2, 8192}};
  r.stacks = {{.pid = 7, .tool = "eu-stack", .at_ms = 9, .text = "#0 main"}};
  ASSERT_TRUE((*store)->Add(r).ok());
  const auto found = (*store)->Find("a", 3);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(*found, r);
  const auto missing = (*store)->Find("a", 4);
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("no run #4 of a"));
}

TEST(RunStoreTest, RunsWithinTheMemoryBudgetAreHeldTheRestFiledAndAllReadBackInReportOrder) {
  TempDir dir("run-store");
  RunRecord sized = MakeRun("a", 0);
  sized.log_tail.assign(10, std::string(1000, 'x'));  // about 10 KB a record: three fit in 35 KB
  auto store = RunStore::Open(dir.path(), {"b", "a"}, 35'000);
  ASSERT_TRUE(store);
  const std::vector<std::pair<std::string, int>> added = {{"a", 2}, {"b", 1}, {"a", 0}, {"b", 0}, {"a", 1}, {"b", 2}};
  for (const auto& [variant, index] : added) {
    RunRecord r = sized;
    r.variant = variant;
    r.index = index;
    ASSERT_TRUE((*store)->Add(r).ok());
  }
  EXPECT_EQ((*store)->held_runs(), 3u);
  EXPECT_GT((*store)->file_bytes(), 0u);
  const std::vector<std::pair<std::string, int>> expected = {{"b", 0}, {"b", 1}, {"b", 2},
                                                             {"a", 0}, {"a", 1}, {"a", 2}};
  EXPECT_EQ(Order(**store), expected);
  for (const auto& [variant, index] : added) {
    const auto found = (*store)->Find(variant, index);
    ASSERT_TRUE(found) << found.error().message;
    EXPECT_EQ(found->log_tail, sized.log_tail);
  }
}

TEST(RunStoreTest, LeavesNothingInItsDirectoryThatAnotherUserCouldOpen) {
  TempDir dir("run-store");
  {
    auto store = RunStore::Open(dir.path(), {"a"}, 0);
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->Add(MakeRun("a", 0)).ok());
    EXPECT_GT((*store)->file_bytes(), 0u);
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(RunStoreTest, RunsAddedFromManyThreadsAreAllKept) {
  TempDir dir("run-store");
  auto store = RunStore::Open(dir.path(), {"a", "b", "c", "d"});
  ASSERT_TRUE(store);
  std::vector<std::thread> threads;
  for (const char* variant : {"a", "b", "c", "d"})
    threads.emplace_back([&, variant] {
      for (int i = 0; i < 250; ++i) EXPECT_TRUE((*store)->Add(MakeRun(variant, i)).ok());
    });
  for (auto& t : threads) t.join();
  const auto seen = Order(**store);
  ASSERT_EQ(seen.size(), 1000u);
  for (size_t k = 0; k < seen.size(); ++k) {
    EXPECT_EQ(seen[k].first, std::string(1, static_cast<char>('a' + k / 250)));
    EXPECT_EQ(seen[k].second, static_cast<int>(k % 250));
  }
}

TEST(RunStoreTest, AFullDiskIsAnErrorAndTheRunsKeptBeforeStayReadable) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root";
  TempDir dir("run-store");
  const auto at = dir.path() / "small";
  std::filesystem::create_directories(at);
  ASSERT_EQ(::mount("tmpfs", at.c_str(), "tmpfs", 0, "size=64k"), 0) << std::strerror(errno);
  {
    auto store = RunStore::Open(at, {"a"}, 0);
    ASSERT_TRUE(store);
    RunRecord big = MakeRun("a", 0);
    big.log_tail.assign(200, std::string(100, 'x'));  // about 20 KB a record
    int kept = 0;
    Status last = Ok{};
    for (int i = 0; i < 10 && last.ok(); ++i) {
      big.index = i;
      last = (*store)->Add(big);
      if (last.ok()) ++kept;
    }
    ASSERT_FALSE(last.ok());
    EXPECT_THAT(last.error().message, HasSubstr("No space left on device"));
    EXPECT_EQ((*store)->size(), static_cast<size_t>(kept));
    EXPECT_EQ(Order(**store).size(), static_cast<size_t>(kept));
  }
  ::umount2(at.c_str(), MNT_DETACH);
}

TEST(StreamedReportJsonTest, IsTheSameTextAsTheWholeDocument) {
  TempDir dir("run-store");
  ReportMeta meta;
  meta.coder_version = "test";
  meta.command_line = {"coder", "diag", "shutdown", "\x01coder-runs\x01"};
  const std::vector<VariantSpec> variants = {{.name = "a"}, {.name = "b"}};
  for (size_t count : {0, 1, 3}) {
    std::vector<RunRecord> runs;
    for (size_t i = 0; i < count; ++i) {
      RunRecord r = MakeRun(i % 2 ? "b" : "a", static_cast<int>(i / 2), Outcome::kSlow);
      r.log = RunLog{.lines = {{1.25, 1, "not UTF-8: \xff\xfe and \"quotes\"\n"}}};
      r.rss_timeline = {{0.5, 4096}};
      runs.push_back(r);
    }
    const auto whole_path = dir.path() / "whole.json", streamed_path = dir.path() / "streamed.json";
    const nlohmann::json whole = ReportJson(meta, variants, {}, runs);
    nlohmann::json outline = whole;
    outline.erase("runs");
    ASSERT_TRUE(WriteReportJson(whole_path, whole).ok());
    ASSERT_TRUE(WriteReportJson(streamed_path, outline, InMemoryRuns(runs)).ok());
    EXPECT_EQ(*ReadFile(streamed_path), *ReadFile(whole_path)) << count << " runs";
  }
}

TEST(JunitRunCasesTest, AtMostAHundredFailingRunsOfAVariantGetACaseOfTheirOwn) {
  std::vector<RunRecord> runs;
  for (int i = 0; i < 130; ++i) runs.push_back(MakeRun("a", i, Outcome::kCrashed));
  VariantTally tally(VariantSpec{.name = "a"});
  for (const RunRecord& r : runs) tally.Add(r);
  ReportDocument document{
      .variants = {{tally.spec(), tally.Summary()}},
      .gate = ReportGate{.fail_on = *ParseFailOn("all"), .exit_code = 1, .findings = CollectFindings({tally}, {})}};
  const std::string xml = RenderJunit(document, InMemoryRuns(runs));
  EXPECT_THAT(xml, HasSubstr("name=\"a #99\""));
  EXPECT_THAT(xml, ::testing::Not(HasSubstr("name=\"a #100\"")));
  EXPECT_THAT(xml, HasSubstr("30 more failing runs have no case of their own"));
}

TEST(BudgetSamplesTest, DecimationKeepsTheFirstTheLastAndThePeak) {
  std::vector<RssPoint> samples;
  for (int i = 0; i < 1000; ++i) samples.push_back({static_cast<double>(i), static_cast<uint64_t>(i == 617 ? 99 : 1)});
  DecimateSamples(samples, 16);
  EXPECT_LE(samples.size(), 16u);
  EXPECT_EQ(samples.front().t_ms, 0);
  EXPECT_EQ(samples.back().t_ms, 999);
  EXPECT_TRUE(std::any_of(samples.begin(), samples.end(), [](const RssPoint& p) { return p.bytes == 99; }));
  EXPECT_TRUE(std::is_sorted(samples.begin(), samples.end(),
                             [](const RssPoint& a, const RssPoint& b) { return a.t_ms < b.t_ms; }));
}

TEST(BudgetSamplesTest, ATallyKeepsAtMostItsShareOfEachRunsSamples) {
  VariantTally tally(VariantSpec{.name = "a"}, 16);
  RunRecord r = MakeRun("a", 0);
  r.launch_ms = 0;
  r.exit_ms = 600;
  for (int i = 0; i < 512; ++i) r.rss_timeline.push_back({static_cast<double>(i), 4096});
  tally.Add(r);
  ASSERT_EQ(tally.Timelines().size(), 1u);
  EXPECT_LE(tally.Timelines()[0].samples.size(), 16u);
}

}  // namespace
}  // namespace coder::harness
