// `coder diag history --db postgresql://...`: the real binary against a real PostgreSQL server of the
// test's own, several processes at once.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <functional>

#include "harness/analysis/run_record.h"
#include "harness/history/history_store.h"
#include "tests/e2e/coder_server.h"
#include "tests/e2e/history_reports.h"
#include "tests/support/loopback.h"
#include "tests/support/postgres_server.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using harness::RunRecord;

const std::string& kFingerprint = kHistoryFingerprint;

// One server for the suite, a database of its own for each test.
class HistoryPostgresCommandTest : public testing::Test {
 protected:
  static void TearDownTestSuite() { postgres_.StopServer(); }
  void SetUp() override {
    auto uri = postgres_.Fresh();
    if (!postgres_.why_unavailable().empty()) GTEST_SKIP() << uri.error().message;
    ASSERT_TRUE(uri.ok()) << uri.error().message;
    uri_ = *uri;
  }
  void TearDown() override {
    auto dropped = postgres_.Drop();
    EXPECT_TRUE(dropped.ok()) << dropped.error().message;
  }

  // `coder diag history COMMAND --db URI ARGS...`.
  std::vector<std::string> History(const std::string& command, const std::vector<std::string>& args) const {
    std::vector<std::string> all = {"diag", "history", command, "--db", uri_};
    all.insert(all.end(), args.begin(), args.end());
    return all;
  }
  uint64_t StoredRuns() const {
    auto store = harness::HistoryStore::Open(uri_);
    EXPECT_TRUE(store.ok()) << store.error().message;
    if (!store) return 0;
    auto count = (*store)->RunCount();
    EXPECT_TRUE(count.ok()) << count.error().message;
    return count ? *count : 0;
  }

  static inline test_support::PostgresSuiteDatabase postgres_;
  TempDir dir_;
  std::string uri_;
};

TEST_F(HistoryPostgresCommandTest, IngestThenCheckSaysInASentenceAndItsExitCodeWhetherItStopped) {
  auto ingest = [&](const std::string& name, const std::string& commit, const std::string& at, int runs,
                    const std::function<bool(int)>& hit) {
    std::ofstream out(dir_.path() / name);
    AppendRuns(out, name, 0, runs, hit);
    out.close();
    return RunCoder(History("ingest", {"--commit", commit, "--time", at, (dir_.path() / name).string()}));
  };
  // 7 of 388 before the fix (3f2a1c), none of 412 after it: the SQLite test's numbers, the same sentence.
  auto before = ingest("before", "1234abcd", "2026-11-01T00:00:00.000Z", 388, [](int i) { return i % 55 == 7; });
  ASSERT_TRUE(before.exit);
  ASSERT_EQ(before.exit->Describe(), "exit 0") << before.output;
  EXPECT_NE(before.output.find("before: 388 runs added, 0 already in the history"), std::string::npos) << before.output;
  auto after = ingest("after", "3f2a1c99", "2026-11-10T00:00:00.000Z", 412, [](int) { return false; });
  ASSERT_TRUE(after.exit);
  ASSERT_EQ(after.exit->Describe(), "exit 0") << after.output;
  auto stopped = RunCoder(History("check", {"--fingerprint", kFingerprint, "--since", "3f2a1c"}));
  ASSERT_TRUE(stopped.exit);
  EXPECT_EQ(stopped.exit->Describe(), "exit 0") << stopped.output;
  EXPECT_NE(stopped.output.find("websocket-shutdown-timeout: 0 of 412 runs since 3f2a1c (before: 7 of 388, 1.8% "
                                "[0.7%, 3.7%]); Fisher p = 0.0061: stopped."),
            std::string::npos)
      << stopped.output;
  // The same report again adds nothing.
  auto again = RunCoder(History("ingest", {"--commit", "3f2a1c99", (dir_.path() / "after").string()}));
  ASSERT_TRUE(again.exit);
  EXPECT_EQ(again.exit->Describe(), "exit 0") << again.output;
  EXPECT_NE(again.output.find("after: 0 runs added, 412 already in the history"), std::string::npos) << again.output;
  // A recurrence after the fix.
  auto later = ingest("later", "5555eeee", "2026-11-20T00:00:00.000Z", 50, [](int i) { return i == 3; });
  ASSERT_TRUE(later.exit);
  ASSERT_EQ(later.exit->Describe(), "exit 0") << later.output;
  auto recurring = RunCoder(History("check", {"--fingerprint", kFingerprint, "--since", "3f2a1c"}));
  ASSERT_TRUE(recurring.exit);
  EXPECT_EQ(recurring.exit->Describe(), "exit 1") << recurring.output;
  EXPECT_NE(recurring.output.find("1 of 462 runs since 3f2a1c"), std::string::npos) << recurring.output;
  EXPECT_EQ(StoredRuns(), 850u);
}

// Seven jobs at once into one new database: each report shares runs with the next one, and the seventh
// job stores a report the first also stores.
TEST_F(HistoryPostgresCommandTest, ConcurrentIngestsLoseAndDoubleNothing) {
  constexpr int kReports = 6, kRuns = 2000, kShared = 500;
  for (int r = 0; r < kReports; ++r) {
    std::ofstream out(dir_.path() / fmt::format("r{}.jsonl", r));
    AppendRuns(out, fmt::format("v{}", r), 0, kRuns);
    AppendRuns(out, fmt::format("v{}", (r + 1) % kReports), 0, kShared);
  }
  std::vector<std::unique_ptr<harness::ChildProcess>> ingests;
  for (int r = 0; r <= kReports; ++r) {
    const auto report = dir_.path() / fmt::format("r{}.jsonl", r % kReports);
    ingests.push_back(LaunchCoder(History("ingest", {"--commit", fmt::format("c0ffee{:02}", r), report.string()})));
    ASSERT_TRUE(ingests.back());
  }
  for (auto& ingest : ingests) {
    auto exit = ingest->WaitUntil(In(60s));
    ASSERT_TRUE(exit);
    EXPECT_EQ(exit->Describe(), "exit 0") << ingest->Output();
  }
  EXPECT_EQ(StoredRuns(), static_cast<uint64_t>(kReports * kRuns));
}

// Nothing listens there: a database failure (exit 3) naming the location, never its password.
TEST(HistoryPostgresUnreachableTest, AnIngestIntoAServerThatIsNotThereExitsThreeWithoutThePassword) {
  uint16_t port = 0;
  const int fd = test_support::ListenOnLoopback(AF_INET, port);
  ASSERT_GE(fd, 0);
  ::close(fd);
  TempDir dir;
  std::ofstream(dir.path() / "r.jsonl") << RunRecord{}.ToJson().dump() << '\n';
  auto run = RunCoder({"diag", "history", "ingest", "--db",
                       fmt::format("postgresql://coder:s3cret-pass@127.0.0.1:{}/history", port),
                       (dir.path() / "r.jsonl").string()});
  ASSERT_TRUE(run.exit);
  EXPECT_EQ(run.exit->Describe(), "exit 3") << run.output;
  EXPECT_NE(run.output.find("cannot open history postgresql://coder:"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find(fmt::format("@127.0.0.1:{}/history: connection to server", port)), std::string::npos)
      << run.output;
  EXPECT_EQ(run.output.find("s3cret"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace coder::e2e
