#include "server/shutdown_steps.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/wait_group.h"
#include "tests/server/test_support.h"

namespace coder::server {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::LogCapture;
using ::testing::Not;

/// Components reduced to what shutdown does to them. The gateway holds a real wait-group slot that only
/// CloseAiGateway releases, which is the whole mechanism of the 10 s tail.
class FakeTargets final : public ShutdownTargets {
 public:
  FakeTargets() : gateway_slot_(websockets_, "ai-gateway-rpc#1") {}

  std::vector<std::string> DrainHttp(Clock::TimePoint) override { return Record("drain", in_flight_); }
  size_t CancelRequests() override {
    calls.push_back("cancel");
    return in_flight_.size();
  }
  Result<size_t> CloseNotifications(Clock::TimePoint) override {
    calls.push_back("notifications");
    return size_t{0};
  }
  void CloseAiGateway() override {
    calls.push_back("gateway");
    gateway_slot_.Release();
  }
  size_t CloseWebSockets() override {
    calls.push_back("close-websockets");
    return 0;
  }
  std::vector<std::string> WaitWebSockets(Clock::TimePoint deadline) override {
    calls.push_back("wait-websockets");
    return websockets_.WaitUntil(deadline);
  }

  std::vector<std::string> calls;
  std::vector<std::string> in_flight_;

 private:
  std::vector<std::string> Record(const char* name, std::vector<std::string> result) {
    calls.push_back(name);
    return result;
  }
  WaitGroup websockets_;
  WaitGroupSlot gateway_slot_;
};

class ShutdownStepsTest : public ::testing::Test {
 protected:
  ShutdownReport RunPlan() {
    ShutdownPlan plan(BuildShutdownSteps(options, targets, log.logger()), log.logger());
    return plan.Run();
  }
  static std::vector<std::string> Names(const ShutdownReport& r) {
    std::vector<std::string> names;
    for (const auto& s : r.steps) names.push_back(s.name);
    return names;
  }

  ServerOptions options;
  FakeTargets targets;
  LogCapture log;
};

TEST_F(ShutdownStepsTest, PatchedOrderClosesTheGatewayBeforeTheWebSocketWait) {
  options.shutdown_order = ShutdownOrder::kPatched;
  const auto report = RunPlan();
  EXPECT_THAT(Names(report),
              ElementsAre("api-drain", "cancel-requests", "notifications", "ai-gateway", "websocket-wait"));
  EXPECT_THAT(targets.calls,
              ElementsAre("drain", "cancel", "notifications", "gateway", "close-websockets", "wait-websockets"));
  EXPECT_TRUE(report.steps.back().completed);
  EXPECT_THAT(log.Text(), Not(HasSubstr("websocket shutdown timed out")));
}

TEST_F(ShutdownStepsTest, UnpatchedOrderWaitsOnTheGatewaySlotUntilTheTimeout) {
  options.shutdown_order = ShutdownOrder::kUnpatched;
  options.websocket_shutdown_timeout = 50ms;  // the real default is 10 s; the mechanism is the same
  const auto report = RunPlan();
  EXPECT_THAT(Names(report),
              ElementsAre("api-drain", "cancel-requests", "notifications", "websocket-wait", "ai-gateway"));
  const auto& wait = report.steps[3];
  EXPECT_FALSE(wait.completed);
  EXPECT_GE(wait.took, Duration(50ms));
  EXPECT_THAT(log.Text(), HasSubstr("websocket shutdown timed out after 0.05 seconds  held=ai-gateway-rpc#1"));
}

TEST_F(ShutdownStepsTest, TimeoutLineStatesTheConfiguredTimeoutInSeconds) {
  EXPECT_EQ(SecondsText(10s), "10 seconds");
  EXPECT_EQ(SecondsText(1500ms), "1.5 seconds");
}

TEST_F(ShutdownStepsTest, WithoutTheGatewayItsStepIsLeftOutAndTheWaitIsFree) {
  options.ai_gateway_enabled = false;
  options.shutdown_order = ShutdownOrder::kUnpatched;
  targets.CloseAiGateway();  // no daemon: nothing holds the slot
  targets.calls.clear();
  const auto report = RunPlan();
  EXPECT_THAT(Names(report), ElementsAre("api-drain", "cancel-requests", "notifications", "websocket-wait"));
  EXPECT_TRUE(report.steps.back().completed);
}

TEST_F(ShutdownStepsTest, LogsTheDesignedLinesInOrder) {
  RunPlan();
  const std::string text = log.Text();
  size_t at = 0;
  for (const char* line :
       {"Shutting down API server...", "Gracefully shut down API server", "Closed notifications manager",
        "Closed AI gateway daemon", "Waiting for WebSocket connections to close...",
        "Done waiting for WebSocket connections", "Shutdown complete in"}) {
    const size_t found = text.find(line, at);
    ASSERT_NE(found, std::string::npos) << "missing or out of order: " << line << "\n" << text;
    at = found;
  }
}

TEST_F(ShutdownStepsTest, ADrainThatTimesOutNamesTheRequestsAndCancelsThem) {
  targets.in_flight_ = {"POST /api/v2/aibridge/openai/v1/chat from 127.0.0.1:5000"};
  const auto report = RunPlan();
  EXPECT_FALSE(report.steps[0].completed);
  EXPECT_THAT(log.Text(), HasSubstr("in_flight=\"POST /api/v2/aibridge/openai/v1/chat from 127.0.0.1:5000\""));
  EXPECT_THAT(log.Text(), HasSubstr("cancelled in-flight requests  count=1"));
}

}  // namespace
}  // namespace coder::server
