// A run's whole log and its live phases, as ExecuteRun and the Runner record and publish them.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <utility>

#include "harness/experiment/run.h"
#include "harness/experiment/runner.h"
#include "tests/harness/harness_test_util.h"

namespace coder::harness {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;

const LogLine* Find(const RunLog& log, std::string_view text) {
  for (const LogLine& l : log.lines)
    if (l.text.rfind(text, 0) == 0) return &l;  // a prefix: the ready line ends in the port it listens on
  return nullptr;
}

using RunLogTest = testing::ExecuteRunFixture;

TEST_F(RunLogTest, TheWholeLogIsKeptAndTimedFromTheStopSignal) {
  // 100 flood lines before the ready line: far more than the 40-line tail.
  const auto r = Run({"--flood-bytes", "10000", "--print-after-signal", "after the signal", "--exit-after-ms", "50"});
  ASSERT_TRUE(r.log.has_value());
  const RunLog& log = *r.log;
  EXPECT_EQ(log.clock, LogClock::kSignal);
  EXPECT_EQ(log.dropped_lines, 0u);
  EXPECT_EQ(log.lines.size(), r.log_lines);
  EXPECT_GT(log.lines.size(), 100u);
  EXPECT_EQ(r.log_tail.size(), 40u);
  const LogLine* ready = Find(log, "Started HTTP listener at http://127.0.0.1:");
  const LogLine* after = Find(log, "after the signal");
  const LogLine* exiting = Find(log, "exiting with code 0");
  ASSERT_TRUE(ready && after && exiting);
  EXPECT_LT(ready->t_ms, 0);
  EXPECT_LT(log.lines.front().t_ms, 0);
  EXPECT_GE(after->t_ms, 0);
  EXPECT_GE(exiting->t_ms, 45);  // printed after its 50 ms exit delay
  EXPECT_TRUE(std::all_of(log.lines.begin(), log.lines.end(), [](const LogLine& l) { return l.stream == 1; }));
  EXPECT_TRUE(std::is_sorted(log.lines.begin(), log.lines.end(),
                             [](const LogLine& a, const LogLine& b) { return a.t_ms < b.t_ms; }));
}

TEST_F(RunLogTest, ARunNeverSignalledIsTimedFromItsLaunch) {
  const auto r = Run({"--exit-before-ready", "3"});
  EXPECT_EQ(r.outcome, Outcome::kFailedToStart);
  ASSERT_TRUE(r.log.has_value());
  EXPECT_EQ(r.log->clock, LogClock::kLaunch);
  ASSERT_FALSE(r.log->lines.empty());
  EXPECT_GE(r.log->lines.front().t_ms, 0);
}

TEST_F(RunLogTest, ALogOverItsBoundIsCutAtItsHeadAndSaysSo) {
  options.log_capacity_bytes = 8 << 10;
  const auto r = Run({"--flood-bytes", "200000"});
  ASSERT_TRUE(r.log.has_value());
  EXPECT_GT(r.log->dropped_lines, 1000u);
  EXPECT_GT(r.log->dropped_bytes, 100'000u);
  EXPECT_EQ(r.log->dropped_lines + r.log->lines.size(), r.log_lines);
  EXPECT_EQ(r.log->lines.back().text, "exiting with code 0");  // the newest lines are the ones kept
}

/// Records what the run publishes. Thread-safe, as RunObserver requires.
class RecordingObserver : public RunObserver {
 public:
  void OnPhase(const std::string& variant, int index, RunPhase phase, std::chrono::steady_clock::time_point) override {
    std::lock_guard lock(mu_);
    phases_.push_back(fmt::format("{}#{} {}", variant, index, ToString(phase)));
  }
  void OnOutput(const std::string& variant, int index, const OutputLine& line) override {
    std::lock_guard lock(mu_);
    output_.push_back(fmt::format("{}#{} {} {}", variant, index, line.stream, line.text));
  }
  std::vector<std::string> phases() const {
    std::lock_guard lock(mu_);
    return phases_;
  }
  std::vector<std::string> output() const {
    std::lock_guard lock(mu_);
    return output_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> phases_;
  std::vector<std::string> output_;
};

TEST_F(RunLogTest, EveryPhaseAndLineReachesTheObserverInOrder) {
  auto observer = std::make_shared<RecordingObserver>();
  options.observer = observer;
  options.hold = 20ms;
  const auto r = Run({"--print-after-signal", "bye"});
  EXPECT_EQ(r.outcome, Outcome::kClean) << r.detail;
  EXPECT_THAT(observer->phases(), ElementsAre("calibrated#0 launching", "calibrated#0 starting", "calibrated#0 holding",
                                              "calibrated#0 stopping", "calibrated#0 finished"));
  EXPECT_THAT(observer->output(),
              ElementsAre(::testing::StartsWith("calibrated#0 1 Started HTTP listener at http://127.0.0.1:"),
                          "calibrated#0 1 signal SIGTERM received", "calibrated#0 1 bye",
                          "calibrated#0 1 exiting with code 0"));
}

TEST_F(RunLogTest, AFailedStartStillEndsWithFinished) {
  auto observer = std::make_shared<RecordingObserver>();
  options.observer = observer;
  VariantSpec v{.name = "missing", .argv = {"/no/such/binary"}};
  const auto r = ExecuteRun(v, 3, options, *fingerprints, sampler, active);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->outcome, Outcome::kFailedToStart);
  EXPECT_THAT(observer->phases(), ElementsAre("missing#3 launching", "missing#3 finished"));
}

TEST(RunnerLogTest, OnlyRunsThatWereNotCleanKeepTheirLogUnlessAskedToKeepAll) {
  Runner::Plan plan;
  plan.variants = {VariantSpec{.name = "clean", .argv = {CALIBRATED_TARGET_PATH}},
                   VariantSpec{.name = "crash", .argv = {CALIBRATED_TARGET_PATH, "--exit-code", "3"}}};
  RunOptions options;
  options.known_timeouts_ms = {};
  {
    Runner runner(plan, options, *FingerprintSet::Create({}), nullptr);
    const auto records = runner.Run();
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].outcome, Outcome::kClean);
    EXPECT_FALSE(records[0].log.has_value());
    EXPECT_FALSE(records[0].log_tail.empty());  // the tail stays, as before
    EXPECT_EQ(records[1].outcome, Outcome::kCrashed);
    ASSERT_TRUE(records[1].log.has_value());
    EXPECT_EQ(records[1].log->lines.back().text, "exiting with code 3");
  }
  options.keep_logs = true;
  Runner runner(plan, options, *FingerprintSet::Create({}), nullptr);
  const auto records = runner.Run();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_TRUE(records[0].log.has_value());
  EXPECT_TRUE(records[1].log.has_value());
}

}  // namespace
}  // namespace coder::harness
