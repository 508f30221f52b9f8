// HttpApi and AiGatewayDaemon in-process, on a real io_context and real sockets: their Close() contracts
// and the in-memory RPC session that holds the API's wait-group slot.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <thread>

#include "server/ai_gateway.h"
#include "server/http_api.h"
#include "server/notifications.h"
#include "tests/server/test_support.h"
#include "tests/support/temp_dir.h"

namespace coder::server {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace net = boost::asio;

auto In(std::chrono::milliseconds d) { return std::chrono::steady_clock::now() + d; }

class ComponentsTest : public ::testing::Test {
 protected:
  ComponentsTest()
      : notifications(nullptr, 16, log.logger()),
        api(ioc, HttpApi::Config{.session_token = std::string(64, 'a')}, notifications, log.logger()) {}
  ~ComponentsTest() override { StopIo(); }

  void StartIo() {
    io_thread = std::thread([this] { ioc.run(); });
  }
  void StopIo() {
    work.reset();
    ioc.stop();
    if (io_thread.joinable()) io_thread.join();
  }

  test_support::TempDir dir;
  testing::LogCapture log;
  NotificationsManager notifications;
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  HttpApi api;
  std::thread io_thread;
};

TEST_F(ComponentsTest, HttpApiCloseTwiceBeforeStartIsSafe) {
  ASSERT_TRUE(api.Listen("127.0.0.1", 0).ok());
  api.Close();
  api.Close();
  EXPECT_FALSE(api.DialInMemoryRpc().ok());
}

TEST_F(ComponentsTest, HttpApiCloseTwiceWhileServingIsSafe) {
  ASSERT_TRUE(api.Listen("127.0.0.1", 0).ok());
  api.StartAccepting();
  StartIo();
  api.Close();
  api.Close();
  EXPECT_THAT(api.DumpState(), HasSubstr("closed=true"));
}

TEST_F(ComponentsTest, ListeningOnABusyPortIsAClearError) {
  auto port = api.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  NotificationsManager other_notifications(nullptr, 16, log.logger());
  HttpApi other(ioc, HttpApi::Config{}, other_notifications, log.logger());
  auto busy = other.Listen("127.0.0.1", *port);
  ASSERT_FALSE(busy.ok());
  EXPECT_THAT(busy.error().message, HasSubstr("bind: Address already in use"));
}

TEST_F(ComponentsTest, AiGatewayCloseTwiceBeforeStartIsSafe) {
  AiGatewayDaemon gateway(
      ioc, [&] { return api.DialInMemoryRpc(); }, std::nullopt, log.logger());
  gateway.Close();
  gateway.Close();
}

TEST_F(ComponentsTest, TheGatewaySessionHoldsTheApiSlotUntilTheDaemonCloses) {
  StartIo();
  AiGatewayDaemon gateway(
      ioc, [&] { return api.DialInMemoryRpc(); }, std::nullopt, log.logger());
  gateway.Start();
  ASSERT_TRUE(gateway.WaitConnected(In(10s)));
  auto& group = api.websocket_wait_group();
  // Nothing but the daemon releases it: a wait times out naming it.
  EXPECT_THAT(group.WaitUntil(In(20ms)), ElementsAre("ai-gateway-rpc#1"));
  gateway.Close();
  EXPECT_TRUE(group.WaitUntil(In(10s)).empty());
  gateway.Close();  // idempotent after a real session too
}

TEST_F(ComponentsTest, TheGatewayRetriesAFailingDialWithBackoff) {
  StartIo();
  std::atomic<int> attempts{0};
  AiGatewayDaemon gateway(
      ioc,
      [&]() -> Result<rpc::Socket> {
        if (++attempts <= 3) return Error{"API not ready"};
        return api.DialInMemoryRpc();
      },
      std::nullopt, log.logger());
  gateway.Start();
  ASSERT_TRUE(gateway.WaitConnected(In(10s)));
  EXPECT_EQ(attempts.load(), 4);
  EXPECT_THAT(log.Text(), HasSubstr("could not connect to the API; retrying  error=\"API not ready\" retry_in=10.0ms"));
  EXPECT_THAT(log.Text(), HasSubstr("retry_in=40.0ms"));  // doubled each time
  gateway.Close();
}

TEST_F(ComponentsTest, TheGatewayAnswers503OnceShutdownBegins) {
  StartIo();
  AiGatewayDaemon gateway(
      ioc, [&] { return api.DialInMemoryRpc(); }, UpstreamUrl{.host = "127.0.0.1", .port = 9}, log.logger());
  gateway.Start();
  gateway.BeginShutdown();
  ApiRequest req{
      .method = "POST", .target = "/api/v2/aibridge/openai/v1/chat", .path = "/api/v2/aibridge/openai/v1/chat"};
  auto reply = net::co_spawn(ioc, gateway.Handle(req), net::use_future).get();
  EXPECT_EQ(reply.status, 503u);
  EXPECT_THAT(reply.body, HasSubstr("AI Gateway is shutting down"));
  gateway.Close();
}

TEST_F(ComponentsTest, TheGatewayReportsAnUnreachableUpstreamAs502) {
  StartIo();
  // A port nothing listens on: bind one, note it, close it.
  uint16_t dead_port = 0;
  {
    NotificationsManager n(nullptr, 1, log.logger());
    HttpApi probe(ioc, HttpApi::Config{}, n, log.logger());
    dead_port = *probe.Listen("127.0.0.1", 0);
  }
  AiGatewayDaemon gateway(
      ioc, [&] { return api.DialInMemoryRpc(); }, UpstreamUrl{.host = "127.0.0.1", .port = dead_port}, log.logger());
  gateway.Start();
  ASSERT_TRUE(gateway.WaitConnected(In(10s)));
  ApiRequest req{.method = "POST", .target = "/api/v2/aibridge/openai/v1/x", .path = "/api/v2/aibridge/openai/v1/x"};
  auto reply = net::co_spawn(ioc, gateway.Handle(req), net::use_future).get();
  EXPECT_EQ(reply.status, 502u);
  EXPECT_THAT(reply.body, HasSubstr("Connection refused"));
  gateway.Close();
}

}  // namespace
}  // namespace coder::server
