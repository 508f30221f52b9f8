#include "harness/history/history_store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <latch>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "harness/history/history_ingest.h"
#include "tests/support/loopback.h"
#include "tests/support/postgres_server.h"
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

enum class Backend { kSqlite, kPostgres };

std::string ToString(Backend backend) { return backend == Backend::kSqlite ? "sqlite" : "postgres"; }
void PrintTo(Backend backend, std::ostream* out) { *out << ToString(backend); }
std::string BackendName(const testing::TestParamInfo<Backend>& info) { return ToString(info.param); }

// One real PostgreSQL server a suite, started by the suite's first test that needs it (a SQLite test
// never waits for it) and stopped with the suite; each test has a database of its own.
class PostgresSuite {
 protected:
  static void StopServer() { postgres_.StopServer(); }
  // Skips the test when there is no server to test against.
  void UseFreshDatabase() {
    auto uri = postgres_.Fresh();
    if (!postgres_.why_unavailable().empty()) GTEST_SKIP() << uri.error().message;
    ASSERT_TRUE(uri.ok()) << uri.error().message;
    uri_ = *uri;
  }
  void DropFreshDatabase() {
    auto dropped = postgres_.Drop();
    EXPECT_TRUE(dropped.ok()) << dropped.error().message;
  }

  static inline test_support::PostgresSuiteDatabase postgres_;
  std::string uri_;
};

// The contract of HistoryStore (history_store.h), held by every backend.
class HistoryStoreTest : public testing::TestWithParam<Backend>, protected PostgresSuite {
 protected:
  static void TearDownTestSuite() { StopServer(); }
  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      location_ = (dir_.path() / "history.db").string();
      return;
    }
    UseFreshDatabase();
    location_ = uri_;
  }
  void TearDown() override { DropFreshDatabase(); }

  std::unique_ptr<HistoryStore> OpenOrFail() {
    auto store = HistoryStore::Open(location_);
    EXPECT_TRUE(store.ok()) << store.error().message;
    return store ? std::move(*store) : nullptr;
  }
  void WriteFile(const std::filesystem::path& path, const std::string& text) { std::ofstream(path) << text; }

  // Leaves the history as a later coder with schema `version` would.
  void PlantSchemaVersion(int version) {
    if (GetParam() == Backend::kSqlite) {
      sqlite3* db = nullptr;
      ASSERT_EQ(sqlite3_open(location_.c_str(), &db), SQLITE_OK);
      ASSERT_EQ(sqlite3_exec(db, fmt::format("PRAGMA user_version={}", version).c_str(), nullptr, nullptr, nullptr),
                SQLITE_OK);
      sqlite3_close(db);
      return;
    }
    ASSERT_TRUE(OpenOrFail());
    auto planted = test_support::PostgresServer::Query(
        uri_, fmt::format("UPDATE coder_history_meta SET schema_version = {}", version));
    ASSERT_TRUE(planted.ok()) << planted.error().message;
  }

  test_support::TempDir dir_;
  std::string location_;
};

INSTANTIATE_TEST_SUITE_P(Backends, HistoryStoreTest, testing::Values(Backend::kSqlite, Backend::kPostgres),
                         BackendName);

TEST_P(HistoryStoreTest, IngestingTheSameRunsTwiceAddsNothing) {
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

TEST_P(HistoryStoreTest, TheJsonDocumentAndTheJsonLinesOfOneInvocationAreTheSameRuns) {
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

TEST_P(HistoryStoreTest, AReportCutOffOrCorruptIsRefusedWithItsPathAndNothingOfItIsStored) {
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

TEST_P(HistoryStoreTest, CountsRunsBeforeAndSinceByFingerprintOutcomeAndVariant) {
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

TEST_P(HistoryStoreTest, ACommitIsFoundByAPrefixOfItsHashAndAnAmbiguousOneIsAnError) {
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

TEST_P(HistoryStoreTest, CloseIsIdempotentAndAClosedStoreAnswersErrors) {
  auto store = OpenOrFail();
  ASSERT_TRUE(store);
  store->Close();
  store->Close();
  EXPECT_FALSE(store->RunCount().ok());
  EXPECT_FALSE(store->Ingest(Origin("aaaa", "x"), {MakeRun("a", 0)}).ok());
  EXPECT_FALSE(store->FindCommit("aaaa").ok());
  EXPECT_FALSE(store->CountAround({}, {}, "").ok());
  EXPECT_FALSE(store->ReadWindow({}, "").ok());
  EXPECT_FALSE(store->LatestAt({}).ok());
  EXPECT_FALSE(store->StartOfLatestBuckets({}, "", TrendBy::kCommit, 1).ok());
}

TEST_P(HistoryStoreTest, AHistoryOfANewerSchemaIsRefused) {
  PlantSchemaVersion(99);
  auto newer = HistoryStore::Open(location_);
  ASSERT_FALSE(newer.ok());
  EXPECT_NE(newer.error().message.find("schema version 99; this coder reads version 2"), std::string::npos)
      << newer.error().message;
}

// Version 1 keyed runs by their JSON: its runs would be stored again under the new keys.
TEST_P(HistoryStoreTest, AHistoryOfAnEarlierSchemaIsRefused) {
  PlantSchemaVersion(1);
  auto earlier = HistoryStore::Open(location_);
  ASSERT_FALSE(earlier.ok());
  EXPECT_NE(earlier.error().message.find("schema version 1, of an earlier coder whose run keys differ"),
            std::string::npos)
      << earlier.error().message;
}

class SqliteHistoryStoreTest : public testing::Test {
 protected:
  test_support::TempDir dir_;
  std::filesystem::path db_ = dir_.path() / "history.db";
};

TEST_F(SqliteHistoryStoreTest, AFileThatIsNotADatabaseIsRefused) {
  const auto text = dir_.path() / "notes.txt";
  std::ofstream(text) << std::string(4096, 'x');
  auto not_db = HistoryStore::Open(text.string());
  ASSERT_FALSE(not_db.ok());
  EXPECT_NE(not_db.error().message.find("notes.txt"), std::string::npos) << not_db.error().message;
}

TEST_F(SqliteHistoryStoreTest, APlantedSymlinkIsNotFollowed) {
  const auto elsewhere = dir_.path() / "elsewhere.db";
  std::ofstream(elsewhere) << "";
  std::filesystem::create_symlink(elsewhere, db_);
  EXPECT_FALSE(HistoryStore::Open(db_.string()).ok());
  EXPECT_EQ(std::filesystem::file_size(elsewhere), 0u);
}

// `coder diag merge` renumbers each variant's runs: the merged report's runs are the shards' runs.
TEST_P(HistoryStoreTest, ARunRenumberedByAMergeIsStillTheSameRun) {
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
TEST_P(HistoryStoreTest, IdenticalRunsOfOneReportAreEachStoredOnce) {
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

TEST(HistoryOriginTest, FlagsWinOverTheCiEnvironmentWhichFillsTheRest) {
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
TEST_P(HistoryStoreTest, AGeneratedHistoryGivesBackItsTalliesAndTheReferenceVerdict) {
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
  // The seed gives 6 of 400 before (libstdc++'s bernoulli_distribution), and the numbers of that history
  // were computed independently of Boost by tests/analysis/recurrence_reference.py:
  //   clopper_pearson(6, 400), clopper_pearson(0, 400), fisher_lower_since(6, 400, 0, 400).
  ASSERT_EQ(hits_before, 6u);
  const RecurrenceCheck check = CheckRecurrence(before, after);
  EXPECT_NEAR(check.before_interval.lower, 5.524109504580660e-3, 1e-9);
  EXPECT_NEAR(check.before_interval.upper, 3.236129448077502e-2, 1e-9);
  EXPECT_EQ(check.since_interval.lower, 0.0);
  EXPECT_NEAR(check.since_interval.upper, 9.179804583665263e-3, 1e-9);
  EXPECT_NEAR(check.p_value, 1.5332768266149311e-2, 1e-10);
  EXPECT_EQ(check.verdict, RecurrenceVerdict::kStopped);
}

// Three ingests out of time order, two branches, fingerprints on some runs.
void IngestAWindowOfRuns(HistoryStore& store) {
  const std::string fp = "websocket-shutdown-timeout";
  RunOrigin late = Origin("2222", "2026-11-03T00:00:00.000Z");
  late.branch = "main";
  late.runner = "runner-2";
  RunRecord measured = MakeRun("u", 10, Outcome::kTimeoutFingerprint, {fp, "other"});
  measured.latency_ms = 0.1 + 0.2;  // a double whose shortest text has 17 digits
  measured.kernel_peak_rss_bytes = 1000;
  measured.tree_peak_rss_bytes = 5000;
  RunRecord unmeasured = MakeRun("p", 11, Outcome::kFailedToStart);
  unmeasured.latency_ms.reset();
  ASSERT_TRUE(store.Ingest(late, {measured, unmeasured}));
  RunOrigin early = Origin("1111", "2026-11-01T00:00:00.000Z");
  early.branch = "fix";
  ASSERT_TRUE(store.Ingest(early, {MakeRun("u", 0, Outcome::kTimeoutFingerprint, {fp}), MakeRun("u", 1)}));
  RunOrigin middle = Origin("1111", "2026-11-02T00:00:00.000Z");
  middle.branch = "main";
  ASSERT_TRUE(store.Ingest(middle, {MakeRun("p", 2), MakeRun("u", 3, Outcome::kTimeoutFingerprint, {fp})}));
}

std::vector<std::string> AtsOf(const RunWindow& window) {
  std::vector<std::string> ats;
  for (const StoredRun& run : window.runs) ats.push_back(run.at.substr(0, 10));
  return ats;
}

std::set<int64_t> IdsOf(const RunWindow& window) {
  std::set<int64_t> ids;
  for (const StoredRun& run : window.runs) ids.insert(run.id);
  return ids;
}

TEST_P(HistoryStoreTest, AWindowHoldsItsRunsByTimeThenIdAndReadsThemBackAsStored) {
  auto store = OpenOrFail();
  ASSERT_TRUE(store);
  ASSERT_NO_FATAL_FAILURE(IngestAWindowOfRuns(*store));
  auto all = store->ReadWindow({}, "");
  ASSERT_TRUE(all.ok()) << all.error().message;
  EXPECT_EQ(AtsOf(*all), (std::vector<std::string>{"2026-11-01", "2026-11-01", "2026-11-02", "2026-11-02", "2026-11-03",
                                                   "2026-11-03"}));
  for (size_t i = 1; i < all->runs.size(); ++i)
    if (all->runs[i - 1].at == all->runs[i].at) {
      EXPECT_LT(all->runs[i - 1].id, all->runs[i].id) << i;
    }
  // Within one ingest, in the report's order.
  ASSERT_EQ(all->runs.size(), 6u);
  EXPECT_EQ(all->runs[0].latency_ms, 1.5);
  EXPECT_EQ(all->runs[1].latency_ms, 2.5);
  const StoredRun& measured = all->runs[4];
  EXPECT_EQ(measured.at, "2026-11-03T00:00:00.000Z");
  EXPECT_EQ(measured.commit, "2222");
  EXPECT_EQ(measured.branch, "main");
  EXPECT_EQ(measured.runner, "runner-2");
  EXPECT_EQ(measured.variant, "u");
  EXPECT_EQ(measured.outcome, "timeout-fingerprint");
  EXPECT_EQ(measured.latency_ms, 0.1 + 0.2);  // exactly
  EXPECT_EQ(measured.peak_rss_bytes, 5000);
  EXPECT_EQ(all->runs[5].outcome, "failed-to-start");
  EXPECT_FALSE(all->runs[5].latency_ms.has_value());
  EXPECT_EQ(all->fingerprints.size(), 4u);
}

TEST_P(HistoryStoreTest, AWindowTakesTheRunsOfItsFilterSinceItsTimeWithOnlyTheirFingerprints) {
  auto store = OpenOrFail();
  ASSERT_TRUE(store);
  ASSERT_NO_FATAL_FAILURE(IngestAWindowOfRuns(*store));
  auto since = store->ReadWindow({}, "2026-11-02T00:00:00.000Z");
  ASSERT_TRUE(since.ok()) << since.error().message;
  EXPECT_EQ(AtsOf(*since), (std::vector<std::string>{"2026-11-02", "2026-11-02", "2026-11-03", "2026-11-03"}));
  EXPECT_EQ(since->fingerprints.size(), 3u);  // not the fingerprint of the run of 11-01
  for (const StoredFingerprint& f : since->fingerprints) EXPECT_TRUE(IdsOf(*since).contains(f.run_id)) << f.run_id;
  auto u_on_main = store->ReadWindow({.variant = "u", .branch = "main"}, "");
  ASSERT_TRUE(u_on_main.ok()) << u_on_main.error().message;
  EXPECT_EQ(AtsOf(*u_on_main), (std::vector<std::string>{"2026-11-02", "2026-11-03"}));
  for (const StoredRun& run : u_on_main->runs) {
    EXPECT_EQ(run.variant, "u");
    EXPECT_EQ(run.branch, "main");
  }
  std::multiset<std::string> names;
  for (const StoredFingerprint& f : u_on_main->fingerprints) {
    EXPECT_TRUE(IdsOf(*u_on_main).contains(f.run_id)) << f.run_id;
    names.insert(f.fingerprint);
  }
  EXPECT_EQ(names, (std::multiset<std::string>{"other", "websocket-shutdown-timeout", "websocket-shutdown-timeout"}));
  auto p_on_fix = store->ReadWindow({.variant = "p", .branch = "fix"}, "");
  ASSERT_TRUE(p_on_fix.ok());
  EXPECT_TRUE(p_on_fix->runs.empty());
  EXPECT_TRUE(p_on_fix->fingerprints.empty());
  auto after_all = store->ReadWindow({}, "2026-12-01T00:00:00.000Z");
  ASSERT_TRUE(after_all.ok());
  EXPECT_TRUE(after_all->runs.empty());
}

TEST_P(HistoryStoreTest, LatestAtIsTheLatestRunOfTheFilterAndEmptyWithoutOne) {
  auto store = OpenOrFail();
  ASSERT_TRUE(store);
  auto empty = store->LatestAt({});
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_EQ(*empty, "");
  ASSERT_NO_FATAL_FAILURE(IngestAWindowOfRuns(*store));
  EXPECT_EQ(*store->LatestAt({}), "2026-11-03T00:00:00.000Z");
  EXPECT_EQ(*store->LatestAt({.branch = "fix"}), "2026-11-01T00:00:00.000Z");
  EXPECT_EQ(*store->LatestAt({.variant = "u", .branch = "fix"}), "2026-11-01T00:00:00.000Z");
  EXPECT_EQ(*store->LatestAt({.variant = "p", .branch = "main"}), "2026-11-03T00:00:00.000Z");
  EXPECT_EQ(*store->LatestAt({.variant = "none"}), "");
}

// Commits c1, c2, c3, c2 again, then c4 on another branch, a day apart: by their latest runs, c4, c2,
// c3, c1.
TEST_P(HistoryStoreTest, TheLatestBucketsStartAtTheEarliestRunOfThoseBuckets) {
  auto store = OpenOrFail();
  ASSERT_TRUE(store);
  int index = 0;
  for (const auto& [commit, day] :
       std::vector<std::pair<std::string, int>>{{"c1", 1}, {"c2", 2}, {"c3", 3}, {"c2", 4}, {"c4", 5}}) {
    RunOrigin origin = Origin(commit, fmt::format("2026-11-0{}T10:00:00.000Z", day));
    origin.branch = commit == "c4" ? "other" : "main";
    ASSERT_TRUE(store->Ingest(origin, {MakeRun("v", index++), MakeRun("v", index++)}));
  }
  auto start = [&](TrendBy by, size_t buckets, const std::string& since = "", const RunFilter& filter = {}) {
    auto at = store->StartOfLatestBuckets(filter, since, by, buckets);
    EXPECT_TRUE(at.ok()) << at.error().message;
    return at ? *at : "(error)";
  };
  EXPECT_EQ(start(TrendBy::kCommit, 2), "2026-11-02T10:00:00.000Z");  // c4 and c2, from c2's first runs
  EXPECT_EQ(start(TrendBy::kCommit, 3), "2026-11-02T10:00:00.000Z");
  EXPECT_EQ(start(TrendBy::kCommit, 4), "");  // every commit: the whole window
  EXPECT_EQ(start(TrendBy::kCommit, 1, "2026-11-03T00:00:00.000Z"), "2026-11-05T10:00:00.000Z");
  EXPECT_EQ(start(TrendBy::kCommit, 1, "", {.branch = "main"}), "2026-11-02T10:00:00.000Z");
  EXPECT_EQ(start(TrendBy::kDay, 2), "2026-11-04T00:00:00.000Z");
  EXPECT_EQ(start(TrendBy::kDay, 2, "2026-11-04T12:00:00.000Z"), "2026-11-04T12:00:00.000Z");
  EXPECT_EQ(start(TrendBy::kRunner, 1, "2026-11-02T00:00:00.000Z"), "2026-11-02T00:00:00.000Z");
  EXPECT_EQ(start(TrendBy::kCommit, 0), "");
}

// Jobs at once, each with its own store and a batch that overlaps the next job's, each in an order of
// its own (the order in which two ingests would deadlock on each other's keys if they stored as given).
TEST_P(HistoryStoreTest, ConcurrentIngestsOfOverlappingBatchesLoseAndDoubleNothing) {
  constexpr int kJobs = 6, kRuns = 1000, kStep = 500;
  const std::string fp = "websocket-shutdown-timeout";
  std::vector<std::vector<RunRecord>> batches(kJobs);
  for (int job = 0; job < kJobs; ++job) {
    for (int i = job * kStep; i < job * kStep + kRuns; ++i)
      batches[job].push_back(i % 7 == 0 ? MakeRun("v", i, Outcome::kTimeoutFingerprint, {fp}) : MakeRun("v", i));
    std::shuffle(batches[job].begin(), batches[job].end(), std::mt19937_64(job));
  }
  std::latch start(kJobs);
  std::vector<Result<IngestCounts>> results(kJobs, Error{"not run"});
  std::vector<std::thread> jobs;
  for (int job = 0; job < kJobs; ++job) {
    jobs.emplace_back([&, job] {
      auto store = HistoryStore::Open(location_);
      start.arrive_and_wait();
      if (!store) results[job] = store.error();
      else
        results[job] =
            (*store)->Ingest(Origin(fmt::format("c0ffee{:02}", job), "2026-12-01T00:00:00.000Z"), batches[job]);
    });
  }
  for (std::thread& job : jobs) job.join();
  size_t added = 0, already = 0;
  for (const auto& result : results) {
    ASSERT_TRUE(result.ok()) << result.error().message;
    added += result->added;
    already += result->already;
  }
  constexpr int kDistinct = (kJobs - 1) * kStep + kRuns;
  EXPECT_EQ(added, static_cast<size_t>(kDistinct));
  EXPECT_EQ(added + already, static_cast<size_t>(kJobs * kRuns));
  auto store = OpenOrFail();
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->RunCount(), static_cast<uint64_t>(kDistinct));
  // The fingerprints of each run once: those of the job that stored it.
  auto counts = store->CountAround({RecurrenceSelector::Kind::kFingerprint, fp}, {}, "");
  ASSERT_TRUE(counts.ok()) << counts.error().message;
  EXPECT_EQ(counts->second.runs, static_cast<uint64_t>(kDistinct));
  EXPECT_EQ(counts->second.hits, static_cast<uint64_t>((kDistinct + 6) / 7));
}

// What only the PostgreSQL store has: a server, a connection, a schema several jobs may create at once.
class PostgresHistoryStoreTest : public testing::Test, protected PostgresSuite {
 protected:
  static void TearDownTestSuite() { StopServer(); }
  void TearDown() override { DropFreshDatabase(); }
};

TEST_F(PostgresHistoryStoreTest, JobsOpeningANewDatabaseAtOnceCreateOneSchema) {
  ASSERT_NO_FATAL_FAILURE(UseFreshDatabase());
  if (IsSkipped()) return;
  constexpr int kJobs = 8;
  std::latch start(kJobs);
  std::vector<std::string> errors(kJobs);
  std::vector<std::thread> jobs;
  for (int job = 0; job < kJobs; ++job) {
    jobs.emplace_back([&, job] {
      start.arrive_and_wait();
      auto store = HistoryStore::Open(uri_);
      if (!store) errors[job] = store.error().message;
    });
  }
  for (std::thread& job : jobs) job.join();
  for (const std::string& error : errors) EXPECT_EQ(error, "");
  auto version =
      test_support::PostgresServer::Query(uri_, "SELECT string_agg(schema_version::text, ',') FROM coder_history_meta");
  ASSERT_TRUE(version.ok()) << version.error().message;
  EXPECT_EQ(*version, "2");  // one row, of this coder's version
}

TEST_F(PostgresHistoryStoreTest, AnIngestTheServerRefusesPartWayStoresNothingOfIt) {
  ASSERT_NO_FATAL_FAILURE(UseFreshDatabase());
  if (IsSkipped()) return;
  auto store = HistoryStore::Open(uri_);
  ASSERT_TRUE(store.ok()) << store.error().message;
  // The server refuses one fingerprint, which is stored after every run (as a full disk or a broken
  // constraint would refuse a row).
  auto planted = test_support::PostgresServer::Query(uri_, R"sql(
    CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.fingerprint = 'refused' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$;
    CREATE TRIGGER refuse BEFORE INSERT ON run_fingerprints FOR EACH ROW EXECUTE FUNCTION refuse();
  )sql");
  ASSERT_TRUE(planted.ok()) << planted.error().message;
  std::vector<RunRecord> runs;
  for (int i = 0; i < 2500; ++i) runs.push_back(MakeRun("v", i));  // three INSERTs of runs
  runs[1234].fingerprints = {"refused"};
  auto refused = (*store)->Ingest(Origin("aaaa", "2026-12-01T00:00:00.000Z"), runs);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "history " + uri_ + ": store fingerprints: refused by the test");
  EXPECT_EQ(*(*store)->RunCount(), 0u);
  runs[1234].fingerprints = {"websocket-shutdown-timeout"};
  auto stored = (*store)->Ingest(Origin("aaaa", "2026-12-01T00:00:00.000Z"), runs);
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  EXPECT_EQ(stored->added, 2500u);
}

// Refused at once (nothing listens): the message names the location, never its passwords.
TEST_F(PostgresHistoryStoreTest, AServerThatIsNotThereIsAnErrorNamingItWithoutItsPasswords) {
  uint16_t port = 0;
  const int fd = test_support::ListenOnLoopback(AF_INET, port);
  ASSERT_GE(fd, 0);
  ::close(fd);
  const std::string uri =
      fmt::format("postgresql://coder:s3cret-pass@127.0.0.1:{}/history?password=hunter2-pass&sslmode=disable", port);
  auto store = HistoryStore::Open(uri);
  ASSERT_FALSE(store.ok());
  const std::string& message = store.error().message;
  EXPECT_NE(message.find("cannot open history postgresql://coder:"), std::string::npos) << message;
  EXPECT_NE(message.find(fmt::format("@127.0.0.1:{}/history", port)), std::string::npos) << message;
  EXPECT_NE(message.find("Connection refused"), std::string::npos) << message;
  EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

// A listener that never answers (the kernel accepts the connection, nobody reads it): the URI's own
// connect_timeout bounds the wait.
TEST_F(PostgresHistoryStoreTest, AServerThatNeverAnswersIsAnErrorAfterTheConnectTimeout) {
  uint16_t port = 0;
  const int fd = test_support::ListenOnLoopback(AF_INET, port);
  ASSERT_GE(fd, 0);
  const auto began = std::chrono::steady_clock::now();
  auto store = HistoryStore::Open(fmt::format("postgresql://coder@127.0.0.1:{}/history?connect_timeout=2", port));
  const auto took = std::chrono::steady_clock::now() - began;
  ::close(fd);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find("timeout expired"), std::string::npos) << store.error().message;
  EXPECT_GE(took, std::chrono::milliseconds(1500));
  EXPECT_LT(took, std::chrono::seconds(8));  // the URI's 2 s, not the default 10 s
}

}  // namespace
}  // namespace coder::harness
