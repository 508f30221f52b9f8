// `coder diag history`: the real binary against real SQLite files, several processes at once.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <csignal>
#include <fstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "harness/analysis/run_record.h"
#include "harness/history/history_store.h"
#include "tests/e2e/coder_server.h"
#include "tests/e2e/history_reports.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;

const std::string& kFingerprint = kHistoryFingerprint;

// A JSON-lines report of `runs` runs of `variant` (AppendRuns).
void WriteRuns(
    const std::filesystem::path& path, const std::string& variant, int runs,
    const std::function<bool(int)>& hit = [](int) { return false; }, double base_latency_ms = 0.5) {
  std::ofstream out(path);
  AppendRuns(out, variant, 0, runs, hit, base_latency_ms);
}

uint64_t StoredRuns(const std::filesystem::path& db) {
  auto store = harness::HistoryStore::Open(db.string());
  EXPECT_TRUE(store.ok()) << store.error().message;
  if (!store) return 0;
  auto count = (*store)->RunCount();
  return count ? *count : 0;
}

std::string IntegrityCheck(const std::filesystem::path& db) {
  sqlite3* handle = nullptr;
  std::string result;
  if (sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    result = std::string("cannot open: ") + sqlite3_errmsg(handle);
  } else if (sqlite3_exec(
                 handle, "PRAGMA integrity_check",
                 [](void* out, int, char** values, char**) {
                   *static_cast<std::string*>(out) += values[0] ? values[0] : "";
                   return 0;
                 },
                 &result, nullptr) != SQLITE_OK) {
    result += std::string("integrity_check failed: ") + sqlite3_errmsg(handle);
  }
  sqlite3_close(handle);
  return result;
}

TEST(HistoryCommandTest, ConcurrentIngestsLoseAndDoubleNothing) {
  TempDir dir;
  const auto db = dir.path() / "history.db";
  constexpr int kReports = 6, kRuns = 2000;
  std::vector<std::unique_ptr<harness::ChildProcess>> ingests;
  for (int r = 0; r < kReports; ++r) WriteRuns(dir.path() / fmt::format("r{}.jsonl", r), fmt::format("v{}", r), kRuns);
  // Seven jobs at once, one of them with a report another job also stores.
  for (int r = 0; r <= kReports; ++r) {
    const auto report = dir.path() / fmt::format("r{}.jsonl", r % kReports);
    ingests.push_back(LaunchCoder({"diag", "history", "ingest", "--db", db.string(), "--commit",
                                   fmt::format("c0ffee{:02}", r), report.string()}));
    ASSERT_TRUE(ingests.back());
  }
  for (auto& ingest : ingests) {
    auto exit = ingest->WaitUntil(In(60s));
    ASSERT_TRUE(exit);
    EXPECT_EQ(exit->Describe(), "exit 0") << ingest->Output();
  }
  EXPECT_EQ(StoredRuns(db), static_cast<uint64_t>(kReports * kRuns));
  EXPECT_EQ(IntegrityCheck(db), "ok");
}

TEST(HistoryCommandTest, AKillDuringAnIngestLeavesAllOrNothingAndTheNextIngestStoresIt) {
  TempDir dir;
  const auto db = dir.path() / "history.db";
  const auto report = dir.path() / "big.jsonl";
  constexpr int kRuns = 60000;
  WriteRuns(report, "v", kRuns);
  auto ingest = LaunchCoder({"diag", "history", "ingest", "--db", db.string(), report.string()});
  ASSERT_TRUE(ingest);
  // The transaction is under way once its pages spill into the write-ahead log.
  const auto wal = dir.path() / "history.db-wal";
  ASSERT_TRUE(test_support::Eventually(
      [&] {
        std::error_code ec;
        const auto size = std::filesystem::file_size(wal, ec);  // (uintmax_t)-1 when missing
        return (!ec && size > (1u << 20)) || ingest->exit_status().has_value();
      },
      In(60s)));
  ASSERT_TRUE(ingest->SignalGroup(SIGKILL).ok()) << "the ingest ended before it could be killed";
  auto exit = ingest->WaitUntil(In(10s));
  ASSERT_TRUE(exit);
  ASSERT_EQ(exit->Describe(), "killed by SIGKILL");
  EXPECT_EQ(IntegrityCheck(db), "ok");
  EXPECT_EQ(StoredRuns(db), 0u);  // the transaction never committed
  auto again = RunCoder({"diag", "history", "ingest", "--db", db.string(), report.string()});
  ASSERT_TRUE(again.exit);
  EXPECT_EQ(again.exit->Describe(), "exit 0") << again.output;
  EXPECT_EQ(StoredRuns(db), static_cast<uint64_t>(kRuns));
}

TEST(HistoryCommandTest, CheckSaysInASentenceAndItsExitCodeWhetherItStopped) {
  TempDir dir;
  const auto db = dir.path() / "history.db";
  auto ingest = [&](const std::string& name, const std::string& commit, const std::string& at, int runs,
                    const std::function<bool(int)>& hit) {
    WriteRuns(dir.path() / name, name, runs, hit);
    auto run = RunCoder({"diag", "history", "ingest", "--db", db.string(), "--commit", commit, "--time", at,
                         (dir.path() / name).string()});
    ASSERT_TRUE(run.exit);
    ASSERT_EQ(run.exit->Describe(), "exit 0") << run.output;
  };
  // 7 of 388 before the fix (3f2a1c), none of 412 after it: the seed's numbers.
  ingest("before", "1234abcd", "2026-11-01T00:00:00.000Z", 388, [](int i) { return i % 55 == 7; });
  ingest("after", "3f2a1c99", "2026-11-10T00:00:00.000Z", 412, [](int) { return false; });
  auto check = [&](std::vector<std::string> args) {
    std::vector<std::string> all = {"diag", "history", "check", "--db", db.string()};
    all.insert(all.end(), args.begin(), args.end());
    return RunCoder(all);
  };
  auto stopped = check({"--fingerprint", kFingerprint, "--since", "3f2a1c"});
  ASSERT_TRUE(stopped.exit);
  EXPECT_EQ(stopped.exit->Describe(), "exit 0") << stopped.output;
  EXPECT_NE(stopped.output.find("websocket-shutdown-timeout: 0 of 412 runs since 3f2a1c (before: 7 of 388, 1.8% "
                                "[0.7%, 3.7%]); Fisher p = 0.0061: stopped."),
            std::string::npos)
      << stopped.output;
  // A recurrence after the fix.
  ingest("later", "5555eeee", "2026-11-20T00:00:00.000Z", 50, [](int i) { return i == 3; });
  auto recurring = check({"--fingerprint", kFingerprint, "--since", "3f2a1c"});
  EXPECT_EQ(recurring.exit->Describe(), "exit 1") << recurring.output;
  EXPECT_NE(recurring.output.find("1 of 462 runs since 3f2a1c"), std::string::npos) << recurring.output;
  // Since the last commit: 50 runs with a hit. Since a date after everything: nothing ran.
  auto early = check({"--outcome", "timeout-fingerprint", "--since", "2026-11-25"});
  EXPECT_EQ(early.exit->Describe(), "exit 4") << early.output;
  EXPECT_NE(early.output.find("0 of 0 runs since 2026-11-25"), std::string::npos) << early.output;
  EXPECT_NE(early.output.find("more clean runs would make it conclusive"), std::string::npos) << early.output;
  // Usage errors.
  auto bad_since = check({"--fingerprint", kFingerprint, "--since", "last-tuesday"});
  EXPECT_EQ(bad_since.exit->Describe(), "exit 2") << bad_since.output;
  EXPECT_NE(bad_since.output.find("neither a commit"), std::string::npos) << bad_since.output;
  auto unknown_commit = check({"--fingerprint", kFingerprint, "--since", "deadbeef"});
  EXPECT_EQ(unknown_commit.exit->Describe(), "exit 2") << unknown_commit.output;
  EXPECT_NE(unknown_commit.output.find("no run of commit deadbeef"), std::string::npos) << unknown_commit.output;
  auto both = check({"--fingerprint", kFingerprint, "--outcome", "crashed", "--since", "3f2a1c"});
  EXPECT_EQ(both.exit->Describe(), "exit 2");
  auto bad_time = RunCoder(
      {"diag", "history", "ingest", "--db", db.string(), "--time", "yesterday", (dir.path() / "after").string()});
  EXPECT_EQ(bad_time.exit->Describe(), "exit 2") << bad_time.output;
  EXPECT_NE(bad_time.output.find("--time yesterday: not a time"), std::string::npos) << bad_time.output;
  auto bad_outcome = check({"--outcome", "exploded", "--since", "3f2a1c"});
  EXPECT_EQ(bad_outcome.exit->Describe(), "exit 2");
  EXPECT_NE(bad_outcome.output.find("not an outcome"), std::string::npos) << bad_outcome.output;
}

// Real shards of the built-in server and their real merge: the merge renumbers the runs, which are
// still the shards' runs.
TEST(HistoryCommandTest, AMergedReportOfIngestedShardsAddsNothing) {
  TempDir dir;
  const auto db = dir.path() / "history.db";
  std::vector<std::string> shards;
  for (const char* name : {"a.json", "b.json"}) {
    shards.push_back((dir.path() / name).string());
    auto run = RunDiag({"--runs", "2", "--gateway", "on", "--shutdown-order", "patched", "--json", shards.back()});
    ASSERT_TRUE(run.exit);
    ASSERT_EQ(run.exit->Describe(), "exit 0") << run.output;
  }
  const auto merged = (dir.path() / "merged.json").string();
  auto merge = RunCoder({"diag", "merge", shards[0], shards[1], "--json", merged});
  ASSERT_TRUE(merge.exit);
  ASSERT_EQ(merge.exit->Describe(), "exit 0") << merge.output;
  auto ingest = RunCoder({"diag", "history", "ingest", "--db", db.string(), shards[0], shards[1]});
  ASSERT_TRUE(ingest.exit);
  ASSERT_EQ(ingest.exit->Describe(), "exit 0") << ingest.output;
  auto again = RunCoder({"diag", "history", "ingest", "--db", db.string(), merged});
  ASSERT_TRUE(again.exit);
  EXPECT_EQ(again.exit->Describe(), "exit 0") << again.output;
  EXPECT_NE(again.output.find("merged.json: 0 runs added, 4 already in the history"), std::string::npos)
      << again.output;
  EXPECT_EQ(StoredRuns(db), 4u);
}

TEST(HistoryCommandTest, ARefusedReportIsNamedAndTheOthersAreStillIngested) {
  TempDir dir;
  const auto db = dir.path() / "history.db";
  WriteRuns(dir.path() / "good.jsonl", "v", 5);
  std::ofstream(dir.path() / "cut.jsonl") << "{\"variant\": \"v\", \"outcome\": \"cle";
  auto run = RunCoder({"diag", "history", "ingest", "--db", db.string(), (dir.path() / "cut.jsonl").string(),
                       (dir.path() / "good.jsonl").string()});
  ASSERT_TRUE(run.exit);
  EXPECT_EQ(run.exit->Describe(), "exit 2") << run.output;
  EXPECT_NE(run.output.find("refused " + (dir.path() / "cut.jsonl").string() + " line 1: cut off"), std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("good.jsonl: 5 runs added"), std::string::npos) << run.output;
  EXPECT_EQ(StoredRuns(db), 5u);
}

// Generated reports with the seed's counts: 7 of 388 runs before the fix (3f2a1c), none of 412 after.
void IngestSeedHistory(const std::filesystem::path& dir, const std::filesystem::path& db, const std::string& variant) {
  auto ingest = [&](const std::string& name, const std::string& commit, const std::string& at, int runs,
                    const std::function<bool(int)>& hit, double base_latency_ms) {
    WriteRuns(dir / name, variant, runs, hit, base_latency_ms);
    auto run = RunCoder({"diag", "history", "ingest", "--db", db.string(), "--commit", commit, "--time", at, "--runner",
                         "linux-" + name, (dir / name).string()});
    ASSERT_TRUE(run.exit);
    ASSERT_EQ(run.exit->Describe(), "exit 0") << run.output;
  };
  ingest(
      "before", "1234abcd", "2026-11-01T00:00:00.000Z", 388, [](int i) { return i % 55 == 7; }, 0.5);
  ingest(
      "after", "3f2a1c99", "2026-11-10T00:00:00.000Z", 412, [](int) { return false; }, 100.5);
}

TEST(HistoryCommandTest, ShowPrintsATrendPerCommitWithRatesAndPlotsIt) {
  TempDir dir;
  const auto db = dir.path() / "history.db";
  IngestSeedHistory(dir.path(), db, "api");
  auto show = RunCoder({"diag", "history", "show", "--db", db.string()});
  ASSERT_TRUE(show.exit);
  ASSERT_EQ(show.exit->Describe(), "exit 0") << show.output;
  EXPECT_NE(show.output.find("800 runs in the history, by commit"), std::string::npos) << show.output;
  EXPECT_NE(show.output.find("1234abcd"), std::string::npos) << show.output;
  EXPECT_NE(show.output.find("7/388 1.8% [0.7%, 3.7%]"), std::string::npos) << show.output;
  EXPECT_NE(show.output.find("0/412 0% [0%, 0.9%]"), std::string::npos) << show.output;
  EXPECT_LT(show.output.find("1234abcd"), show.output.find("3f2a1c99")) << "oldest first";

  auto since =
      RunCoder({"diag", "history", "show", "--db", db.string(), "--since", "3f2a1c", "--by", "runner", "--json"});
  ASSERT_TRUE(since.exit);
  ASSERT_EQ(since.exit->Describe(), "exit 0") << since.output;
  const auto trend = nlohmann::json::parse(since.output.substr(since.output.find('{')), nullptr, false);
  ASSERT_FALSE(trend.is_discarded()) << since.output;
  EXPECT_EQ(trend["runs"], 412);
  ASSERT_EQ(trend["buckets"].size(), 1u);
  EXPECT_EQ(trend["buckets"][0]["key"], "linux-after");
  EXPECT_EQ(trend["since"], "2026-11-10T00:00:00.000Z");

  const auto png = dir.path() / "trend.png";
  auto plot = RunCoder({"diag", "history", "show", "--db", db.string(), "--by", "day", "--plot", png.string()});
  ASSERT_TRUE(plot.exit);
  ASSERT_EQ(plot.exit->Describe(), "exit 0") << plot.output;
  std::ifstream in(png, std::ios::binary);
  std::string signature(8, '\0');
  in.read(signature.data(), 8);
  EXPECT_EQ(signature, "\x89PNG\r\n\x1a\n");

  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"--plot", (dir.path() / "trend.gif").string()},
        std::vector<std::string>{"--plot", (dir.path() / "missing" / "t.png").string()},
        std::vector<std::string>{"--since", "last-tuesday"}, std::vector<std::string>{"--by", "week"},
        // NaN passed CLI::Range and aborted in Boost; -1 and 9999 were taken as "all" and as 1816.
        std::vector<std::string>{"--confidence", "nan"}, std::vector<std::string>{"--last", "-1"},
        std::vector<std::string>{"--since", "9999-12-31"}}) {
    std::vector<std::string> args{"diag", "history", "show", "--db", db.string()};
    args.insert(args.end(), bad.begin(), bad.end());
    auto run = RunCoder(args);
    ASSERT_TRUE(run.exit);
    EXPECT_EQ(run.exit->Describe(), "exit 2") << bad[0] << " " << bad[1] << ": " << run.output;
  }
  auto missing = RunCoder({"diag", "history", "show", "--db", (dir.path() / "typo.db").string()});
  EXPECT_EQ(missing.exit->Describe(), "exit 2") << missing.output;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "typo.db")) << "a typo must not create an empty history";
}

TEST(HistoryCommandTest, ShowLastReadsOnlyTheLatestBucketsWhole) {
  TempDir dir;
  const auto db = dir.path() / "history.db";
  // Three commits on three days; the second commit ran again on the third day, after the third commit.
  const std::vector<std::tuple<std::string, std::string, double>> reports{
      {"aaaa0001", "2026-11-01T10:00:00.000Z", 0.5},
      {"bbbb0002", "2026-11-02T10:00:00.000Z", 100.5},
      {"cccc0003", "2026-11-03T10:00:00.000Z", 200.5},
      {"bbbb0002", "2026-11-03T12:00:00.000Z", 300.5}};
  for (size_t i = 0; i < reports.size(); ++i) {
    const auto& [commit, at, base] = reports[i];
    const auto path = dir.path() / fmt::format("r{}.jsonl", i);
    WriteRuns(
        path, "api", 10, [](int) { return false; }, base);
    auto run =
        RunCoder({"diag", "history", "ingest", "--db", db.string(), "--commit", commit, "--time", at, path.string()});
    ASSERT_TRUE(run.exit);
    ASSERT_EQ(run.exit->Describe(), "exit 0") << run.output;
  }
  auto show = [&](std::vector<std::string> args) {
    std::vector<std::string> all{"diag", "history", "show", "--db", db.string(), "--json"};
    all.insert(all.end(), args.begin(), args.end());
    auto run = RunCoder(all);
    EXPECT_EQ(run.exit->Describe(), "exit 0") << run.output;
    return nlohmann::json::parse(run.output.substr(run.output.find('{')), nullptr, false);
  };
  // The latest two commits by their latest run are bbbb (whose first run was on the 2nd) and cccc: both
  // whole, bbbb's 20 runs and cccc's 10, and aaaa not read.
  const auto commits = show({"--last", "2"});
  ASSERT_EQ(commits["buckets"].size(), 2u) << commits.dump(2);
  EXPECT_EQ(commits["buckets"][0]["key"], "bbbb0002");
  EXPECT_EQ(commits["buckets"][0]["runs"], 20);
  EXPECT_EQ(commits["buckets"][1]["key"], "cccc0003");
  EXPECT_EQ(commits["runs"], 30);
  EXPECT_TRUE(commits["earlier_buckets"].is_null()) << "not read, so not counted";
  const auto days = show({"--last", "1", "--by", "day"});
  ASSERT_EQ(days["buckets"].size(), 1u) << days.dump(2);
  EXPECT_EQ(days["buckets"][0]["key"], "2026-11-03");
  EXPECT_EQ(days["buckets"][0]["runs"], 20);
  const auto all = show({"--last", "0"});
  EXPECT_EQ(all["buckets"].size(), 3u);
  EXPECT_EQ(all["runs"], 40);
  EXPECT_EQ(all["earlier_buckets"], 0);
  auto table = RunCoder({"diag", "history", "show", "--db", db.string(), "--last", "2"});
  EXPECT_NE(table.output.find("30 runs of the latest 2 commits in the history, by commit (earlier commits left out: "
                              "--last 0 shows all)"),
            std::string::npos)
      << table.output;
}

// A runner's name is whatever the CI's environment says, bytes that are not UTF-8 included: `show --json`
// once aborted on them (nlohmann_json's type_error.316) for every later call over that run.
TEST(HistoryCommandTest, NamesThatAreNotUtf8AreShownReplacedNeverThrownAt) {
  TempDir dir;
  const auto db = dir.path() / "history.db";
  WriteRuns(dir.path() / "r.jsonl", "api", 3);
  auto ingest = RunCoder({"diag", "history", "ingest", "--db", db.string(), "--runner", "linux-\xff", "--commit",
                          "abcd\xfe", (dir.path() / "r.jsonl").string()});
  ASSERT_TRUE(ingest.exit);
  ASSERT_EQ(ingest.exit->Describe(), "exit 0") << ingest.output;
  for (const char* by : {"runner", "commit"}) {
    auto show = RunCoder({"diag", "history", "show", "--db", db.string(), "--by", by, "--json"});
    ASSERT_TRUE(show.exit);
    EXPECT_EQ(show.exit->Describe(), "exit 0") << show.output;
    const auto trend = nlohmann::json::parse(show.output.substr(show.output.find('{')), nullptr, false);
    ASSERT_FALSE(trend.is_discarded()) << show.output;
    EXPECT_NE(trend["buckets"][0]["key"].get<std::string>().find("\xef\xbf\xbd"), std::string::npos) << by;
  }
  auto check = RunCoder({"diag", "history", "check", "--db", db.string(), "--outcome", "crashed", "--since",
                         "2000-01-01", "--confidence", "nan"});
  EXPECT_EQ(check.exit->Describe(), "exit 2") << check.output;
}

// Real runs of the built-in server, into a history that holds the seed's runs before the fix: the
// reports carry the verdict.
TEST(HistoryCommandTest, DiagShutdownWithHistoryIngestsItsRunsAndItsReportsCarryTheVerdict) {
  TempDir dir;
  const auto db = dir.path() / "history.db";
  const std::string variant = "order=patched,gateway=off";
  IngestSeedHistory(dir.path(), db, variant);
  const auto junit = dir.path() / "report.xml";
  const auto markdown = dir.path() / "report.md";
  auto run =
      RunDiagWithReport({"--runs", "2", "--gateway", "off", "--shutdown-order", "patched", "--history", db.string(),
                         "--history-since", "3f2a1c", "--history-fingerprint", kFingerprint, "--history-fingerprint",
                         kFingerprint, "--junit", junit.string(), "--markdown", markdown.string()});
  ASSERT_TRUE(run.run.exit);
  ASSERT_EQ(run.run.exit->Describe(), "exit 0") << run.run.output;
  EXPECT_EQ(StoredRuns(db), 802u);
  const std::string sentence = "websocket-shutdown-timeout in " + variant +
                               ": 0 of 414 runs since 3f2a1c (before: 7 of 388, 1.8% [0.7%, 3.7%]); Fisher p = "
                               "0.006: stopped.";
  EXPECT_NE(run.run.output.find("history " + db.string() + ": 2 runs added, 0 already in it"), std::string::npos)
      << run.run.output;
  EXPECT_NE(run.run.output.find(sentence), std::string::npos) << run.run.output;
  ASSERT_TRUE(run.report["history"].is_object()) << run.report.dump(2);
  EXPECT_EQ(run.report["history"]["verdicts"][0]["verdict"], "stopped");
  EXPECT_EQ(run.report["history"]["verdicts"].size(), 1u) << "a fingerprint given twice is checked once";
  std::stringstream xml, md;
  xml << std::ifstream(junit).rdbuf();
  md << std::ifstream(markdown).rdbuf();
  EXPECT_NE(xml.str().find("name=\"history: fingerprint websocket-shutdown-timeout in " + variant + " since 3f2a1c\""),
            std::string::npos)
      << xml.str();
  EXPECT_NE(md.str().find("### History"), std::string::npos) << md.str();
  EXPECT_NE(md.str().find("0 of 414 runs since 3f2a1c"), std::string::npos) << md.str();

  // Wrong flags are said before any run, and nothing is ingested.
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"--history-since", "3f2a1c", "--history-fingerprint", kFingerprint},
        std::vector<std::string>{"--history", db.string(), "--history-fingerprint", kFingerprint},
        std::vector<std::string>{"--history", db.string(), "--history-since", "soon", "--history-outcome", "crashed"},
        std::vector<std::string>{"--history", db.string(), "--history-since", "3f2a1c", "--history-outcome", "odd"},
        std::vector<std::string>{"--history", dir.path().string()}}) {
    std::vector<std::string> args{"--runs", "1", "--gateway", "off"};
    args.insert(args.end(), bad.begin(), bad.end());
    auto refused = RunDiag(args);
    ASSERT_TRUE(refused.exit);
    EXPECT_EQ(refused.exit->Describe(), "exit 2") << refused.output;
    EXPECT_EQ(refused.output.find("[1/1]"), std::string::npos) << "ran before refusing: " << refused.output;
  }
  EXPECT_EQ(StoredRuns(db), 802u);

  // A fix the history has no run of, found only once the runs are in: they stay in, the report says so.
  auto unknown = RunDiagWithReport({"--runs", "1", "--gateway", "off", "--history", db.string(), "--history-since",
                                    "deadbeef", "--history-outcome", "crashed"});
  ASSERT_TRUE(unknown.run.exit);
  EXPECT_EQ(unknown.run.exit->Describe(), "exit 3") << unknown.run.output;
  EXPECT_NE(unknown.run.output.find("--history: no run of commit deadbeef"), std::string::npos) << unknown.run.output;
  ASSERT_TRUE(unknown.report["history"].is_object()) << "the ingest was lost from the report";
  EXPECT_EQ(unknown.report["history"]["added"], 1);
  EXPECT_TRUE(unknown.report["history"]["verdicts"].empty());
  EXPECT_EQ(StoredRuns(db), 803u);
}

}  // namespace
}  // namespace coder::e2e
