// The real `coder server` binary, signalled over real sockets: the shutdown behaviours the design names.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <nlohmann/json.hpp>

#include <future>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/net_client.h"
#include "tests/e2e/test_upstream.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

struct TimedStop {
  std::optional<harness::ExitStatus> exit;
  Clock::duration took{};
  std::string log;
};

TimedStop StopAndTime(CoderServer& server, int sig, std::chrono::milliseconds timeout) {
  const auto sent = Clock::now();
  TimedStop out;
  out.exit = server.SignalAndWait(sig, timeout);
  if (out.exit) out.took = out.exit->at - sent;
  out.log = server.Log();
  return out;
}

// The regression test for the 10 s tail. The three servers run at once, so the whole test pays the
// real default timeout once.
TEST(ServerShutdownTest, AIGatewayShutdownOrdering) {
  auto patched = CoderServer::Start({.args = {"--shutdown-order", "patched"}});
  auto unpatched = CoderServer::Start({.args = {"--shutdown-order", "unpatched"}});
  auto unpatched_no_gateway =
      CoderServer::Start({.args = {"--shutdown-order", "unpatched", "--ai-gateway-enabled=false"}});
  ASSERT_TRUE(patched && unpatched && unpatched_no_gateway);

  auto slow = std::async(std::launch::async, [&] { return StopAndTime(*unpatched, SIGTERM, 30s); });
  const TimedStop fixed = StopAndTime(*patched, SIGTERM, 30s);
  const TimedStop no_gateway = StopAndTime(*unpatched_no_gateway, SIGTERM, 30s);
  const TimedStop tail = slow.get();

  // Patched: the daemon closes first, nothing is left to wait on.
  ASSERT_TRUE(fixed.exit) << fixed.log;
  EXPECT_EQ(fixed.exit->Describe(), "exit 0") << fixed.log;
  EXPECT_LT(fixed.took, 8s) << fixed.log;
  EXPECT_THAT(fixed.log, Not(HasSubstr("websocket shutdown timed out")));
  EXPECT_THAT(fixed.log, HasSubstr("Done waiting for WebSocket connections"));

  // Unpatched: the wait runs to its full timeout on the gateway's slot, then the daemon closes.
  ASSERT_TRUE(tail.exit) << tail.log;
  EXPECT_EQ(tail.exit->Describe(), "exit 0") << tail.log;
  EXPECT_GE(tail.took, 10s) << tail.log;
  EXPECT_THAT(tail.log, HasSubstr("websocket shutdown timed out after 10 seconds  held=ai-gateway-rpc#1"));

  // Unpatched without the gateway is fast: the daemon is the whole cause.
  ASSERT_TRUE(no_gateway.exit) << no_gateway.log;
  EXPECT_EQ(no_gateway.exit->Describe(), "exit 0") << no_gateway.log;
  EXPECT_LT(no_gateway.took, 8s) << no_gateway.log;
  EXPECT_THAT(no_gateway.log, Not(HasSubstr("websocket shutdown timed out")));
}

TEST(ServerShutdownTest, TimeoutLineFollowsTheConfiguredTimeout) {
  auto server =
      CoderServer::Start({.args = {"--shutdown-order", "unpatched", "--websocket-shutdown-timeout", "1500ms"}});
  ASSERT_TRUE(server);
  const TimedStop stop = StopAndTime(*server, SIGINT, 20s);
  ASSERT_TRUE(stop.exit) << stop.log;
  EXPECT_GE(stop.took, 1500ms);
  EXPECT_THAT(stop.log, HasSubstr("Interrupt caught, gracefully exiting. Use ctrl+\\ to force quit"));
  EXPECT_THAT(stop.log, HasSubstr("websocket shutdown timed out after 1.5 seconds  held=ai-gateway-rpc#1"));
}

TEST(ServerShutdownTest, LogsEachStepAndTheTotalInPlanOrder) {
  auto server = CoderServer::Start({});
  ASSERT_TRUE(server);
  const TimedStop stop = StopAndTime(*server, SIGTERM, 20s);
  ASSERT_TRUE(stop.exit);
  size_t at = 0;
  for (const char* line : {"Stop caught, gracefully exiting", "Shutting down API server...",
                           "Gracefully shut down API server", "step=api-drain", "step=cancel-requests",
                           "step=notifications", "step=ai-gateway", "Waiting for WebSocket connections to close...",
                           "Done waiting for WebSocket connections", "step=websocket-wait", "Shutdown complete in"}) {
    const size_t found = stop.log.find(line, at);
    ASSERT_NE(found, std::string::npos) << "missing or out of order: " << line << "\n" << stop.log;
    at = found;
  }
  EXPECT_FALSE(std::filesystem::exists(server->config_dir() / "url")) << "the url file outlived the server";
}

TEST(ServerShutdownTest, OpenWebSocketClientsReceiveGoingAway) {
  auto server = CoderServer::Start({});
  ASSERT_TRUE(server);
  std::vector<std::unique_ptr<WatchClient>> clients;
  for (int i = 0; i < 3; ++i) {
    std::string error;
    clients.push_back(WatchClient::Connect(server->host(), server->port(), server->token(), &error));
    ASSERT_TRUE(clients.back()) << error;
  }
  const TimedStop stop = StopAndTime(*server, SIGTERM, 20s);
  ASSERT_TRUE(stop.exit) << stop.log;
  EXPECT_EQ(stop.exit->Describe(), "exit 0");
  for (auto& c : clients) EXPECT_EQ(c->WaitClosed(5s), std::optional<uint16_t>(1001));
  EXPECT_THAT(stop.log, HasSubstr("Done waiting for WebSocket connections"));
  EXPECT_LT(stop.took, 8s);
}

TEST(ServerShutdownTest, InFlightRequestCompletesBeforeExit) {
  TestUpstream upstream;
  upstream.HoldReplies();
  auto server = CoderServer::Start({.args = {"--ai-gateway-upstream-url", upstream.url()}});
  ASSERT_TRUE(server);
  auto reply = std::async(std::launch::async, [&] {
    return HttpRequest(server->host(), server->port(), "POST", "/api/v2/aibridge/openai/v1/chat/completions",
                       R"({"model":"test-model"})", {{"Coder-Session-Token", server->token()}});
  });
  ASSERT_TRUE(upstream.WaitForRequests(1, 10s));  // the request is now in flight inside the server
  ASSERT_TRUE(server->process().Signal(SIGTERM));
  ASSERT_TRUE(server->WaitForLog("Shutting down API server...", 10s));
  upstream.Release();
  const HttpReply got = reply.get();
  EXPECT_EQ(got.status, 200u) << got.error;
  EXPECT_EQ(got.body, TestUpstream::kReplyBody);
  const auto exit = server->process().WaitUntil(In(20s));
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->Describe(), "exit 0");
  EXPECT_THAT(server->Log(), HasSubstr("Gracefully shut down API server"));
  EXPECT_THAT(server->Log(), Not(HasSubstr("could not record an interception")));
}

TEST(ServerShutdownTest, SecondSignalDuringShutdownIsLoggedAndIgnored) {
  auto server = CoderServer::Start({.args = {"--shutdown-order", "unpatched", "--websocket-shutdown-timeout", "2s"}});
  ASSERT_TRUE(server);
  ASSERT_TRUE(server->process().Signal(SIGTERM));
  ASSERT_TRUE(server->WaitForLog("Waiting for WebSocket connections to close...", 10s));
  ASSERT_TRUE(server->process().Signal(SIGINT));
  ASSERT_TRUE(server->WaitForLog("Interrupt caught during shutdown; ignoring it", 10s));
  const auto exit = server->process().WaitUntil(In(20s));
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->Describe(), "exit 0") << server->Log();
  EXPECT_THAT(server->Log(), HasSubstr("Shutdown complete in"));
}

TEST(ServerShutdownTest, SigquitDumpsStateAndExitsAtOnce) {
  auto server = CoderServer::Start({});
  ASSERT_TRUE(server);
  const TimedStop stop = StopAndTime(*server, SIGQUIT, 10s);
  ASSERT_TRUE(stop.exit) << stop.log;
  EXPECT_EQ(stop.exit->Describe(), "exit 3");
  EXPECT_THAT(stop.log, HasSubstr("=== coder server state (SIGQUIT) ==="));
  EXPECT_THAT(stop.log, HasSubstr("websocket wait group: 1 held"));
  EXPECT_THAT(stop.log, HasSubstr("ai-gateway-rpc#1"));
  EXPECT_THAT(stop.log, Not(HasSubstr("Shutting down API server")));
}

TEST(ServerShutdownTest, JsonLogFormatGivesOneObjectPerLine) {
  auto server = CoderServer::Start({.args = {"--log-format", "json"}});
  ASSERT_TRUE(server);
  const TimedStop stop = StopAndTime(*server, SIGTERM, 20s);
  ASSERT_TRUE(stop.exit);
  int steps = 0;
  for (const auto& line : server->process().Lines()) {
    const auto j = nlohmann::json::parse(line.text, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line.text;
    if (j.value("msg", "") == "shutdown step done") {
      ++steps;
      EXPECT_TRUE(j["took_ms"].is_number());
    }
  }
  EXPECT_EQ(steps, 5);
}

}  // namespace
}  // namespace coder::e2e
