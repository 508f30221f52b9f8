// ExecuteRun against the calibrated target: each fault produces its outcome, and the measurements are
// accurate against what the target was told to do.
#include "harness/experiment/run.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "harness/experiment/runner.h"
#include "harness/process/subreaper.h"
#include "tests/harness/harness_test_util.h"

namespace coder::harness {
namespace {

using namespace std::chrono_literals;
using ::testing::Contains;
using ::testing::HasSubstr;

/// Live descendants of this test process other than itself (LiveDescendants includes its root).
std::vector<pid_t> OthersAlive() {
  auto alive = LiveDescendants(::getpid());
  alive.erase(std::remove(alive.begin(), alive.end(), ::getpid()), alive.end());
  return alive;
}

class ExecuteRunTest : public testing::ExecuteRunFixture {
 protected:
  // slow_threshold stays at its 5 s default.
  ExecuteRunTest() : ExecuteRunFixture({"custom=custom failure marker"}) {}
};

TEST_F(ExecuteRunTest, ACleanStopIsCleanAndMeasured) {
  const auto r = Run({"--ready-after-ms", "20", "--exit-after-ms", "30"});
  EXPECT_EQ(r.outcome, Outcome::kClean) << r.detail;
  EXPECT_EQ(r.exit, "exit 0");
  ASSERT_TRUE(r.ready_ms && r.latency_ms);
  // The launch time is taken when exec has succeeded, a little after the target's own clock started.
  EXPECT_GE(*r.ready_ms, 15);
  EXPECT_GE(*r.latency_ms, 30);
  EXPECT_GT(r.tree_peak_rss_bytes, 0u);
  EXPECT_FALSE(r.rss_timeline.empty());
  EXPECT_THAT(r.log_tail, Contains(HasSubstr("Started HTTP listener at")));
}

// The measured stop covers the target's whole delay and not much more. How close it comes (+0.6 ms over
// 30 runs on an idle machine) is a benchmark's figure (scripts/bench-report, accuracy-latency): a 2 ms
// bound here failed 1 run in 6 on a loaded machine.
TEST_F(ExecuteRunTest, LatencyCoversTheTargetsExitDelayAndLittleMore) {
  std::vector<double> errors;
  for (int i = 0; i < 5; ++i) {
    const auto r = Run({"--exit-after-ms", "100"});
    ASSERT_TRUE(r.latency_ms);
    errors.push_back(*r.latency_ms - 100.0);
  }
  std::sort(errors.begin(), errors.end());
  EXPECT_GE(errors.front(), 0.0) << "a stop measured shorter than the target's own delay";
  EXPECT_LE(errors[2], 50.0) << "median error of the shutdown latency";
}

/// The most `r`'s process tree held from its ready line on (the harness samples it there), 0 if it never
/// became ready.
uint64_t PeakRssFromReady(const RunRecord& r) {
  uint64_t peak = 0;
  for (const RssPoint& p : r.rss_timeline) {
    if (r.ready_ms && p.t_ms >= *r.ready_ms) peak = std::max(peak, p.bytes);
  }
  return peak;
}

TEST_F(ExecuteRunTest, KernelPeakRssTracksHeldMemory) {
  const auto baseline = Run({});
  const auto held = Run({"--hold-mib", "256"});
  // The target's own resident set, not its peak: where vfork is a fork (ThreadSanitizer), a sample taken
  // between the fork and execve sees the child's copy of the harness's memory (17 MiB against the
  // target's 2.6 MiB), which the held run's peak hides and the baseline's would add to `expected`.
  const uint64_t target_baseline = PeakRssFromReady(baseline);
  ASSERT_GT(target_baseline, 0u);
  const double expected = 256.0 * (1 << 20) + static_cast<double>(target_baseline);
  EXPECT_NEAR(static_cast<double>(held.kernel_peak_rss_bytes), expected, expected * 0.05);
  EXPECT_NEAR(static_cast<double>(held.tree_peak_rss_bytes), expected, expected * 0.05);
}

TEST_F(ExecuteRunTest, ASlowStopIsSlow) {
  options.slow_threshold = 100ms;
  const auto r = Run({"--exit-after-ms", "300"});
  EXPECT_EQ(r.outcome, Outcome::kSlow) << r.detail;
  EXPECT_THAT(r.detail, HasSubstr("over the 100ms threshold"));
}

TEST_F(ExecuteRunTest, TheTimeoutLineMakesATimeoutFingerprintAndNamesTheSlots) {
  const auto r = Run({"--print-after-signal",
                      "[warn] websocket shutdown timed out after 10 seconds  held=ai-gateway-rpc#1 held_count=1"});
  EXPECT_EQ(r.outcome, Outcome::kTimeoutFingerprint) << r.detail;
  EXPECT_THAT(r.fingerprints, Contains(kFpWebsocketTimeout));
  EXPECT_THAT(r.held_slots, Contains("ai-gateway-rpc#1"));
  EXPECT_THAT(r.detail, HasSubstr("ai-gateway-rpc#1"));
}

TEST_F(ExecuteRunTest, ALatencyAtAKnownTimeoutIsAFingerprintEvenWithoutALogLine) {
  options.known_timeouts_ms = {300};
  const auto r = Run({"--exit-after-ms", "305"});
  EXPECT_EQ(r.outcome, Outcome::kTimeoutFingerprint) << r.detail;
  EXPECT_THAT(r.fingerprints, Contains(kFpLatencyAtTimeout));
}

TEST_F(ExecuteRunTest, ATargetIgnoringTheSignalIsKilledByTheWatchdog) {
  options.kill_after = 300ms;
  const auto silent = Run({"--ignore-signals", "--quiet"});
  EXPECT_EQ(silent.outcome, Outcome::kKilledByWatchdog) << silent.detail;
  EXPECT_TRUE(silent.watchdog_fired);
  EXPECT_EQ(silent.exit, "killed by SIGKILL");
  EXPECT_THAT(silent.fingerprints, Contains(kFpSilentWatchdogKill));
  EXPECT_THAT(silent.fingerprints, ::testing::Not(Contains(kFpForeignSigkill)));
  // A target that says something after the signal is killed all the same, but is not silent.
  const auto chatty = Run({"--ignore-signals"});
  EXPECT_EQ(chatty.outcome, Outcome::kKilledByWatchdog);
  EXPECT_THAT(chatty.fingerprints, ::testing::Not(Contains(kFpSilentWatchdogKill)));
}

TEST_F(ExecuteRunTest, CrashesAndNonZeroExitsAreCrashed) {
  const auto abort = Run({"--crash"});
  EXPECT_EQ(abort.outcome, Outcome::kCrashed);
  EXPECT_THAT(abort.detail, HasSubstr("SIGABRT"));
  const auto code = Run({"--exit-code", "3"});
  EXPECT_EQ(code.outcome, Outcome::kCrashed);
  EXPECT_THAT(code.detail, HasSubstr("exited with status 3"));
}

TEST_F(ExecuteRunTest, DyingOfTheStopSignalItselfIsAStop) {
  const auto r = Run({"--die-by-signal"});
  EXPECT_EQ(r.outcome, Outcome::kClean) << r.detail;
  EXPECT_THAT(r.detail, HasSubstr("default action of SIGTERM"));
}

TEST_F(ExecuteRunTest, NeverReadyAndFailedToStartAreTold) {
  options.ready_timeout = 300ms;
  const auto never = Run({"--never-ready"});
  EXPECT_EQ(never.outcome, Outcome::kNeverReady) << never.detail;
  const auto early = Run({"--exit-before-ready", "1"});
  EXPECT_EQ(early.outcome, Outcome::kFailedToStart) << early.detail;
  EXPECT_THAT(early.detail, HasSubstr("exited before it was ready: exit 1"));
  VariantSpec missing{.name = "missing", .argv = {"/no/such/server"}};
  const auto gone = ExecuteRun(missing, 0, options, *fingerprints, sampler, active);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->outcome, Outcome::kFailedToStart);
  EXPECT_THAT(gone->detail, HasSubstr("No such file or directory"));
}

TEST_F(ExecuteRunTest, UserFingerprintsAreRecorded) {
  const auto r = Run({"--print-after-signal", "custom failure marker"});
  EXPECT_THAT(r.fingerprints, Contains("custom"));
  EXPECT_EQ(r.outcome, Outcome::kClean);  // a user fingerprint is a finding, not an outcome
}

TEST_F(ExecuteRunTest, ReadinessByUrlWithASubstitutedPort) {
  options.ready_url = "http://127.0.0.1:{port}/";
  options.ready_log_regex = "";
  const auto r = Run({"--http-port", "{port}", "--ready-after-ms", "50"});
  EXPECT_EQ(r.outcome, Outcome::kClean) << r.detail;
  EXPECT_TRUE(r.ready_ms);
}

TEST_F(ExecuteRunTest, NoProcessOfARunOutlivesIt) {
  ASSERT_TRUE(BecomeChildSubreaper().ok());
  const auto r = Run({"--fork-grandchild", "--exit-after-ms", "10"});
  // The grandchild ignores the stop signal and outlives the target: found, then killed.
  EXPECT_EQ(r.outcome, Outcome::kLeftProcesses) << r.detail;
  EXPECT_EQ(r.left_processes, 1);
  ReapOrphans();
  EXPECT_TRUE(OthersAlive().empty());
}

TEST(RunnerTest, OpenLoopLaunchesOnScheduleWhetherOrNotEarlierRunsEnded) {
  Runner::Plan plan;
  plan.variants = {VariantSpec{.name = "lingers", .argv = {CALIBRATED_TARGET_PATH, "--exit-after-ms", "300"}}};
  plan.runs = 5;
  plan.arrival_interval = 100ms;
  Runner runner(plan, RunOptions{}, *FingerprintSet::Create({}), nullptr);
  const auto records = runner.Run();
  ASSERT_EQ(records.size(), 5u);
  for (const auto& r : records) {
    ASSERT_TRUE(r.launch_ms && r.exit_ms) << r.index;
    // Launched at its slot (a little after, never before), not when the previous run ended.
    EXPECT_GE(*r.launch_ms, 100.0 * r.index) << r.index;
    EXPECT_LT(*r.launch_ms, 100.0 * r.index + 90) << r.index;
  }
  // Each lives over 300 ms and they arrive every 100 ms: run 1 starts while run 0 is alive.
  EXPECT_LT(*records[1].launch_ms, *records[0].launch_ms + *records[0].exit_ms);
}

TEST(RunnerTest, MaxLiveCapsAnOpenLoop) {
  Runner::Plan plan;
  plan.variants = {VariantSpec{.name = "lingers", .argv = {CALIBRATED_TARGET_PATH, "--exit-after-ms", "200"}}};
  plan.runs = 3;
  plan.arrival_interval = 10ms;
  plan.max_live = 1;
  Runner runner(plan, RunOptions{}, *FingerprintSet::Create({}), nullptr);
  const auto records = runner.Run();
  ASSERT_EQ(records.size(), 3u);
  for (size_t i = 1; i < records.size(); ++i)
    EXPECT_GE(*records[i].launch_ms, *records[i - 1].launch_ms + *records[i - 1].exit_ms) << i;
}

TEST(RunnerTest, InterruptKillsEveryTargetAndRecordsOnlyFinishedRuns) {
  ASSERT_TRUE(BecomeChildSubreaper().ok());
  Runner::Plan plan;
  plan.variants = {
      VariantSpec{.name = "hang", .argv = {CALIBRATED_TARGET_PATH, "--ignore-signals", "--fork-grandchild"}}};
  plan.runs = 3;
  plan.parallel = 3;
  RunOptions options;
  options.hold = 60s;  // ready, then held: the interrupt comes while all three are alive
  std::atomic<int> finished{0};
  Runner runner(plan, options, *FingerprintSet::Create({}), [&](const RunRecord&) { ++finished; });
  std::thread interrupter([&] {
    // Interrupt once all three targets and their grandchildren exist.
    testing::Eventually([&] { return OthersAlive().size() >= 6; }, testing::In(20s));
    runner.Interrupt();
  });
  const auto records = runner.Run();
  interrupter.join();
  EXPECT_TRUE(records.empty());
  EXPECT_EQ(finished.load(), 0);
  EXPECT_TRUE(runner.interrupted());
  EXPECT_EQ(runner.unfinished_runs(), 3u);
  ReapOrphans();
  EXPECT_TRUE(OthersAlive().empty());
}

}  // namespace
}  // namespace coder::harness
