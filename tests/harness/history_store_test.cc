#include "harness/history/history_store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <map>
#include <random>

#include "harness/history/history_ingest.h"
#include "tests/support/temp_dir.h"

namespace coder::harness {
namespace {

RunRecord MakeRun(const std::string& variant, int index, Outcome outcome = Outcome::kClean,
                  std::vector<std::string> fingerprints = {}) {
  RunRecord run;
  run.variant = variant;
  run.index = index;
  run.outcome = outcome;
  run.latency_ms = 1.5 + index;
  run.fingerprints = std::move(fingerprints);
  return run;
}

RunOrigin Origin(const std::string& commit, const std::string& at) {
  RunOrigin origin;
  origin.commit = commit;
  origin.at = at;
  return origin;
}

class HistoryStoreTest : public testing::Test {
 protected:
  std::unique_ptr<HistoryStore> OpenOrFail() {
    auto store = HistoryStore::Open(db_.string());
    EXPECT_TRUE(store.ok()) << store.error().message;
    return store ? std::move(*store) : nullptr;
  }
  void WriteFile(const std::filesystem::path& path, const std::string& text) { std::ofstream(path) << text; }

  test_support::TempDir dir_;
  std::filesystem::path db_ = dir_.path() / "history.db";
};

TEST_F(HistoryStoreTest, IngestingTheSameRunsTwiceAddsNothing) {
  auto store = OpenOrFail();
  ASSERT_TRUE(store);
  const std::vector<RunRecord> runs = {MakeRun("a", 0), MakeRun("a", 1), MakeRun("b", 0)};
  auto first = store->Ingest(Origin("aaaa", "2026-12-01T00:00:00.000Z"), runs);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->added, 3u);
  // Another report carrying the same runs (a merged one, or the JSON lines of the same invocation).
  auto again = store->Ingest(Origin("bbbb", "2026-12-02T00:00:00.000Z"), {runs[1], MakeRun("b", 1)});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->added, 1u);
  EXPECT_EQ(again->already, 1u);
  EXPECT_EQ(*store->RunCount(), 4u);
}

TEST_F(HistoryStoreTest, TheJsonDocumentAndTheJsonLinesOfOneInvocationAreTheSameRuns) {
  auto store = OpenOrFail();
  ASSERT_TRUE(store);
  const RunRecord a = MakeRun("a", 0),
                  b = MakeRun("a", 1, Outcome::kTimeoutFingerprint, {"websocket-shutdown-timeout"});
  WriteFile(dir_.path() / "r.jsonl", a.ToJson().dump() + "\n" + b.ToJson().dump() + "\n");
  auto lines = IngestReportFile(*store, dir_.path() / "r.jsonl", Origin("aaaa", ""));
  ASSERT_TRUE(lines.ok()) << lines.error().message;
  ASSERT_FALSE(lines->refused);
  EXPECT_EQ(lines->counts.added, 2u);
  // The same runs again, read back through the report reader's round trip.
  WriteFile(dir_.path() / "again.jsonl", RunRecord::FromJson(b.ToJson())->ToJson().dump() + "\n");
  auto again = IngestReportFile(*store, dir_.path() / "again.jsonl", Origin("aaaa", ""));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->counts.added, 0u);
  EXPECT_EQ(again->counts.already, 1u);
}

TEST_F(HistoryStoreTest, AReportCutOffOrCorruptIsRefusedWithItsPathAndNothingOfItIsStored) {
  auto store = OpenOrFail();
  ASSERT_TRUE(store);
  const std::string good = MakeRun("a", 0).ToJson().dump() + "\n" + MakeRun("a", 1).ToJson().dump() + "\n";
  const std::string cut = good + MakeRun("a", 2).ToJson().dump().substr(0, 40);
  WriteFile(dir_.path() / "cut.jsonl", cut);
  auto refused = IngestReportFile(*store, dir_.path() / "cut.jsonl", Origin("aaaa", ""));
  ASSERT_TRUE(refused.ok()) << refused.error().message;  // a bad report is refused, not a database failure
  ASSERT_TRUE(refused->refused);
  EXPECT_NE(refused->refused->message.find("cut.jsonl line 3: cut off"), std::string::npos)
      << refused->refused->message;
  WriteFile(dir_.path() / "corrupt.jsonl", good + "{\"variant\": 3}\n");
  auto corrupt = IngestReportFile(*store, dir_.path() / "corrupt.jsonl", Origin("aaaa", ""));
  ASSERT_TRUE(corrupt.ok() && corrupt->refused);
  EXPECT_NE(corrupt->refused->message.find("corrupt.jsonl line 3: not a run record"), std::string::npos);
  WriteFile(dir_.path() / "doc.json", R"({"schema": "coder.diag.shutdown/v1", "meta": {}})");
  auto document = IngestReportFile(*store, dir_.path() / "doc.json", Origin("aaaa", ""));
  ASSERT_TRUE(document.ok() && document->refused);
  EXPECT_NE(document->refused->message.find("doc.json: "), std::string::npos) << document->refused->message;
  EXPECT_EQ(*store->RunCount(), 0u);
}

TEST_F(HistoryStoreTest, CountsRunsBeforeAndSinceByFingerprintOutcomeAndVariant) {
  auto store = OpenOrFail();
  ASSERT_TRUE(store);
  const std::string fp = "websocket-shutdown-timeout";
  ASSERT_TRUE(store->Ingest(Origin("1111", "2026-11-01T00:00:00.000Z"),
                            {MakeRun("u", 0, Outcome::kTimeoutFingerprint, {fp}), MakeRun("u", 1), MakeRun("p", 0),
                             MakeRun("u", 2, Outcome::kKilledByWatchdog)}));
  ASSERT_TRUE(store->Ingest(Origin("2222", "2026-11-05T00:00:00.000Z"), {MakeRun("u", 3), MakeRun("p", 1)}));
  const RecurrenceSelector by_fp{RecurrenceSelector::Kind::kFingerprint, fp};
  const RecurrenceSelector by_outcome{RecurrenceSelector::Kind::kOutcome, "killed-by-watchdog"};
  const std::string since = "2026-11-05T00:00:00.000Z";
  auto counts = store->CountAround(by_fp, {}, since);
  ASSERT_TRUE(counts.ok()) << counts.error().message;
  EXPECT_EQ(counts->first.hits, 1u);
  EXPECT_EQ(counts->first.runs, 4u);
  EXPECT_EQ(counts->second.hits, 0u);
  EXPECT_EQ(counts->second.runs, 2u);
  auto killed = store->CountAround(by_outcome, {.variant = "u"}, since);
  ASSERT_TRUE(killed.ok());
  EXPECT_EQ(killed->first.hits, 1u);
  EXPECT_EQ(killed->first.runs, 3u);
  EXPECT_EQ(killed->second.runs, 1u);
  auto on_main = store->CountAround(by_fp, {.branch = "main"}, since);
  ASSERT_TRUE(on_main.ok());
  EXPECT_EQ(on_main->first.runs, 0u);  // every run here was ingested without a branch
}

TEST_F(HistoryStoreTest, ACommitIsFoundByAPrefixOfItsHashAndAnAmbiguousOneIsAnError) {
  auto store = OpenOrFail();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Ingest(Origin("3f2a1c00", "2026-11-03T00:00:00.000Z"), {MakeRun("a", 0)}));
  ASSERT_TRUE(store->Ingest(Origin("3f2a1c00", "2026-11-02T00:00:00.000Z"), {MakeRun("a", 1)}));
  ASSERT_TRUE(store->Ingest(Origin("3f2b9900", "2026-11-04T00:00:00.000Z"), {MakeRun("a", 2)}));
  auto first = store->FindCommit("3F2A");  // a prefix, in either case
  ASSERT_TRUE(first.ok()) << first.error().message;
  ASSERT_EQ(first->commits, std::vector<std::string>{"3f2a1c00"});
  EXPECT_EQ(first->first_at, "2026-11-02T00:00:00.000Z");
  EXPECT_TRUE(store->FindCommit("dead")->commits.empty());
  EXPECT_EQ(store->FindCommit("3f2")->commits.size(), 2u);  // ambiguous: the caller says so
}

TEST_F(HistoryStoreTest, CloseIsIdempotentAndAClosedStoreAnswersErrors) {
  auto store = OpenOrFail();
  ASSERT_TRUE(store);
  store->Close();
  store->Close();
  EXPECT_FALSE(store->RunCount().ok());
  EXPECT_FALSE(store->Ingest(Origin("aaaa", "x"), {MakeRun("a", 0)}).ok());
}

TEST_F(HistoryStoreTest, AHistoryOfANewerSchemaOrNotADatabaseIsRefused) {
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto newer = HistoryStore::Open(db_.string());
  ASSERT_FALSE(newer.ok());
  EXPECT_NE(newer.error().message.find("schema version 99"), std::string::npos) << newer.error().message;
  const auto text = dir_.path() / "notes.txt";
  WriteFile(text, std::string(4096, 'x'));
  auto not_db = HistoryStore::Open(text.string());
  ASSERT_FALSE(not_db.ok());
  EXPECT_NE(not_db.error().message.find("notes.txt"), std::string::npos) << not_db.error().message;
}

TEST_F(HistoryStoreTest, APlantedSymlinkIsNotFollowed) {
  const auto elsewhere = dir_.path() / "elsewhere.db";
  WriteFile(elsewhere, "");
  std::filesystem::create_symlink(elsewhere, db_);
  EXPECT_FALSE(HistoryStore::Open(db_.string()).ok());
  EXPECT_EQ(std::filesystem::file_size(elsewhere), 0u);
}

// `coder diag merge` renumbers each variant's runs: the merged report's runs are the shards' runs.
TEST_F(HistoryStoreTest, ARunRenumberedByAMergeIsStillTheSameRun) {
  auto store = OpenOrFail();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Ingest(Origin("aaaa", "2026-12-01T00:00:00.000Z"), {MakeRun("v", 0), MakeRun("v", 1)}));
  RunRecord renumbered = MakeRun("v", 1);
  renumbered.index = 7;
  auto merged = store->Ingest(Origin("aaaa", "2026-12-01T00:00:00.000Z"), {renumbered});
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(merged->added, 0u);
  EXPECT_EQ(merged->already, 1u);
}

// Runs that measured nothing (a target that could not be executed) differ only in their index: each is
// a run, and a second ingest of the same report still adds none.
TEST_F(HistoryStoreTest, IdenticalRunsOfOneReportAreEachStoredOnce) {
  auto store = OpenOrFail();
  ASSERT_TRUE(store);
  std::vector<RunRecord> runs;
  for (int i = 0; i < 3; ++i) {
    RunRecord run = MakeRun("v", i, Outcome::kFailedToStart);
    run.latency_ms.reset();
    runs.push_back(run);
  }
  auto first = store->Ingest(Origin("aaaa", "2026-12-01T00:00:00.000Z"), runs);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->added, 3u);
  auto again = store->Ingest(Origin("aaaa", "2026-12-01T00:00:00.000Z"), runs);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->added, 0u);
  EXPECT_EQ(again->already, 3u);
}

TEST(CanonicalUtcTest, TimesBecomeOneUtcFormWhoseTextOrderIsTimeOrder) {
  EXPECT_EQ(CanonicalUtc("2026-12-01"), "2026-12-01T00:00:00.000Z");
  EXPECT_EQ(CanonicalUtc("2026-12-01T10:00:00Z"), "2026-12-01T10:00:00.000Z");
  EXPECT_EQ(CanonicalUtc("2026-12-01T10:00:00.5Z"), "2026-12-01T10:00:00.500Z");
  EXPECT_EQ(CanonicalUtc("2026-12-01T10:00:00.123456Z"), "2026-12-01T10:00:00.123Z");
  EXPECT_EQ(CanonicalUtc("2026-12-01T12:30:00+02:00"), "2026-12-01T10:30:00.000Z");
  EXPECT_EQ(CanonicalUtc("2026-12-31T23:30:00-01:00"), "2027-01-01T00:30:00.000Z");
  // A report's whole seconds and a JSON-lines ingest's milliseconds compare as times.
  EXPECT_LT(*CanonicalUtc("2026-12-01T10:00:00Z"), *CanonicalUtc("2026-12-01T10:00:00.500Z"));
  for (const char* bad : {"yesterday", "2026-13-01", "2026-02-30", "2026-12-01T", "2026-12-01T25:00:00Z",
                          "2026-12-01T10:00:00", "2026-12-01T10:00:00.Z", "2026-12-01 10:00:00Z", "20261201"})
    EXPECT_FALSE(CanonicalUtc(bad)) << bad;
}

TEST_F(HistoryStoreTest, FlagsWinOverTheCiEnvironmentWhichFillsTheRest) {
  std::map<std::string, std::string> env = {{"GITHUB_SHA", "ABCDEF12"},
                                            {"GITHUB_REF_NAME", "main"},
                                            {"RUNNER_NAME", "runner-7"},
                                            {"GITHUB_RUN_ID", "42"},
                                            {"GITHUB_SERVER_URL", "https://github.com"},
                                            {"GITHUB_REPOSITORY", "o/r"}};
  auto get = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  RunOrigin given;
  given.branch = "fix";
  const RunOrigin origin = OriginFromEnvironment(given, get);
  EXPECT_EQ(origin.commit, "abcdef12");  // compared by prefix, in lower case
  EXPECT_EQ(origin.branch, "fix");
  EXPECT_EQ(origin.runner, "runner-7");
  EXPECT_EQ(origin.ci_run_id, "42");
  EXPECT_EQ(origin.job_url, "https://github.com/o/r/actions/runs/42");
  env = {{"CI_COMMIT_SHA", "c0ffee"}, {"CI_JOB_URL", "https://gitlab.example/j/1"}};
  const RunOrigin gitlab = OriginFromEnvironment({}, get);
  EXPECT_EQ(gitlab.commit, "c0ffee");
  EXPECT_EQ(gitlab.job_url, "https://gitlab.example/j/1");
}

// A generated history with a known rate (seeded): the counts the store gives back are the generator's
// own tallies, and the verdict follows from them.
TEST_F(HistoryStoreTest, AGeneratedHistoryGivesBackItsTalliesAndTheVerdictFollows) {
  auto store = OpenOrFail();
  ASSERT_TRUE(store);
  std::mt19937_64 random(20261207);
  std::bernoulli_distribution hit(0.02);
  const std::string fp = "websocket-shutdown-timeout";
  uint64_t hits_before = 0;
  for (int job = 0; job < 40; ++job) {  // 40 jobs of 10 runs before the fix, at 2%
    std::vector<RunRecord> runs;
    for (int i = 0; i < 10; ++i) {
      const bool h = hit(random);
      hits_before += h;
      runs.push_back(h ? MakeRun("u", job * 10 + i, Outcome::kTimeoutFingerprint, {fp}) : MakeRun("u", job * 10 + i));
    }
    ASSERT_TRUE(store->Ingest(Origin("1111", fmt::format("2026-11-01T00:{:02}:00.000Z", job)), runs));
  }
  for (int job = 0; job < 40; ++job) {  // and 40 after it, clean
    std::vector<RunRecord> runs;
    for (int i = 0; i < 10; ++i) runs.push_back(MakeRun("u", 1000 + job * 10 + i));
    ASSERT_TRUE(store->Ingest(Origin("2222", fmt::format("2026-11-02T00:{:02}:00.000Z", job)), runs));
  }
  auto since = store->FindCommit("2222");
  ASSERT_TRUE(since.ok() && since->commits.size() == 1);
  const RecurrenceSelector selector{RecurrenceSelector::Kind::kFingerprint, fp};
  auto counts = store->CountAround(selector, {}, since->first_at);
  ASSERT_TRUE(counts.ok());
  const Proportion before = counts->first, after = counts->second;
  EXPECT_EQ(before.hits, hits_before);
  EXPECT_EQ(before.runs, 400u);
  EXPECT_EQ(after.hits, 0u);
  EXPECT_EQ(after.runs, 400u);
  ASSERT_GT(hits_before, 3u);  // the seed gives a history where the question has an answer
  EXPECT_EQ(CheckRecurrence(before, after).verdict, FisherLowerSince(before, after) < 0.05
                                                        ? RecurrenceVerdict::kStopped
                                                        : RecurrenceVerdict::kNotEnoughEvidence);
}

}  // namespace
}  // namespace coder::harness
