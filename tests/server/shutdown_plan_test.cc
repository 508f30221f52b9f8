#include "server/shutdown_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/server/test_support.h"

namespace coder::server {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using testing::FakeClock;
using ::testing::HasSubstr;
using testing::LogCapture;

class ShutdownPlanTest : public ::testing::Test {
 protected:
  ShutdownStep Step(std::string name, Duration budget, Duration takes, bool completed = true) {
    return {name, budget, [this, name, takes, completed](Clock::TimePoint deadline) {
              ran.push_back(name);
              deadlines.push_back(deadline);
              clock.Advance(takes);
              return StepResult{completed, completed ? "" : "gave up"};
            }};
  }

  FakeClock clock;
  LogCapture log;
  std::vector<std::string> ran;
  std::vector<Clock::TimePoint> deadlines;
};

TEST_F(ShutdownPlanTest, ClosesInDeclaredOrder) {
  ShutdownPlan plan({Step("first", 1s, 1ms), Step("second", 1s, 1ms), Step("third", 1s, 1ms)}, log.logger(), clock);
  const auto& report = plan.Run();
  EXPECT_THAT(ran, ElementsAre("first", "second", "third"));
  ASSERT_EQ(report.steps.size(), 3u);
  EXPECT_EQ(report.steps[2].name, "third");
}

TEST_F(ShutdownPlanTest, GivesEachStepItsOwnDeadline) {
  const auto start = clock.Now();
  ShutdownPlan plan({Step("drain", 3s, 2s), Step("wait", 10s, 0ms)}, log.logger(), clock);
  plan.Run();
  ASSERT_EQ(deadlines.size(), 2u);
  EXPECT_EQ(deadlines[0], start + 3s);
  EXPECT_EQ(deadlines[1], start + 2s + 10s);  // counted from the step's own start
}

TEST_F(ShutdownPlanTest, MeasuresEachStepAndTheTotalWithTheInjectedClock) {
  ShutdownPlan plan({Step("api-drain", 3s, 5ms), Step("websocket-wait", 10s, 10s, false)}, log.logger(), clock);
  const auto& report = plan.Run();
  EXPECT_EQ(report.steps[0].took, Duration(5ms));
  EXPECT_EQ(report.steps[1].took, Duration(10s));
  EXPECT_FALSE(report.steps[1].completed);
  EXPECT_EQ(report.total, Duration(10s + 5ms));
  EXPECT_EQ(report.Summary(), "api-drain 5.00ms (0.0%), websocket-wait 10.000s (100.0%)");
  const std::string text = log.Text();
  EXPECT_THAT(text, HasSubstr("shutdown step done  step=api-drain took=5.00ms"));
  EXPECT_THAT(text, HasSubstr("step=websocket-wait took=10.000s"));
  EXPECT_THAT(text, HasSubstr("Shutdown complete in 10.005s: api-drain 5.00ms (0.0%)"));
}

TEST_F(ShutdownPlanTest, ReportsAStepThatOverrunsItsDeadline) {
  ShutdownPlan plan({Step("slow", 1s, 2s), Step("timed-out-on-time", 1s, 1s + 10ms)}, log.logger(), clock);
  EXPECT_TRUE(plan.Run().steps[0].overran);
  EXPECT_FALSE(plan.Run().steps[1].overran);  // returning at the deadline is a timeout, not an overrun
  EXPECT_THAT(log.Text(), HasSubstr("shutdown step overran its deadline  step=slow budget=1.000s"));
}

TEST_F(ShutdownPlanTest, RunningTwiceRunsTheStepsOnce) {
  ShutdownPlan plan({Step("only", 1s, 1ms)}, log.logger(), clock);
  const auto& first = plan.Run();
  const auto& second = plan.Run();
  EXPECT_EQ(&first, &second);
  EXPECT_THAT(ran, ElementsAre("only"));
}

TEST_F(ShutdownPlanTest, ConcurrentRunsWaitForTheOneRun) {
  std::atomic<int> runs{0};
  ShutdownPlan plan({{"count", 1s,
                      [&](Clock::TimePoint) {
                        ++runs;
                        return StepResult{};
                      }}},
                    log.logger());
  std::thread other([&] { plan.Run(); });
  const auto& report = plan.Run();
  other.join();
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(report.steps.size(), 1u);
}

TEST_F(ShutdownPlanTest, JsonLogCarriesStepFieldsForMachines) {
  LogCapture json(LogFormat::kJson);
  ShutdownPlan plan({Step("api-drain", 3s, 1500us)}, json.logger(), clock);
  plan.Run();
  const std::string first_line = json.Text().substr(0, json.Text().find('\n'));
  const auto line = nlohmann::json::parse(first_line);
  EXPECT_EQ(line["msg"], "shutdown step done");
  EXPECT_EQ(line["step"], "api-drain");
  EXPECT_DOUBLE_EQ(line["took_ms"].get<double>(), 1.5);
  EXPECT_EQ(line["completed"], true);
}

}  // namespace
}  // namespace coder::server
