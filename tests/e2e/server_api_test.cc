// The real `coder server` binary over real sockets: endpoints, notifications, the AI gateway and bad input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/net_client.h"
#include "tests/e2e/test_upstream.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;

class ServerApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server = CoderServer::Start({.args = extra_args});
    ASSERT_TRUE(server);
  }
  HttpReply Get(const std::string& target, bool with_token = true) {
    return HttpRequest(server->host(), server->port(), "GET", target, "", Auth(with_token));
  }
  HttpReply Post(const std::string& target, const std::string& body, bool with_token = true) {
    return HttpRequest(server->host(), server->port(), "POST", target, body, Auth(with_token));
  }
  Headers Auth(bool with_token) const {
    if (!with_token) return {};
    return {{"Coder-Session-Token", server->token()}, {"Content-Type", "application/json"}};
  }

  std::vector<std::string> extra_args;
  std::unique_ptr<CoderServer> server;
};

TEST_F(ServerApiTest, HealthzAndBuildinfoAnswer) {
  const auto health = Get("/healthz", false);
  EXPECT_EQ(health.status, 200u);
  EXPECT_EQ(health.body, "OK");
  const auto info = Get("/api/v2/buildinfo", false);
  ASSERT_EQ(info.status, 200u);
  const auto j = json::parse(info.body);
  EXPECT_EQ(j["external_url"], server->url());
  EXPECT_EQ(j["shutdown_order"], "patched");
  EXPECT_EQ(j["ai_gateway_enabled"], true);
}

TEST_F(ServerApiTest, WritesTheUrlAndAPrivateSessionToken) {
  std::ifstream url_file(server->config_dir() / "url");
  std::string url;
  std::getline(url_file, url);
  EXPECT_EQ(url, server->url());
  EXPECT_EQ(server->token().size(), 64u);
  const auto perms = std::filesystem::status(server->config_dir() / "session").permissions();
  EXPECT_EQ(perms & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST_F(ServerApiTest, RejectsBadRequestsWithTheRightStatus) {
  EXPECT_EQ(Post("/api/v2/notifications", R"({"title":"x"})", false).status, 401u);
  const auto bad_json = Post("/api/v2/notifications", R"({"title":)");
  EXPECT_EQ(bad_json.status, 400u);
  EXPECT_THAT(bad_json.body, HasSubstr("not valid JSON"));
  EXPECT_EQ(Post("/api/v2/notifications", R"({"title":""})").status, 400u);
  EXPECT_EQ(Post("/api/v2/notifications", R"({"title":"x","severity":"panic"})").status, 400u);
  EXPECT_EQ(Post("/api/v2/notifications", R"({"title":"x","colour":"red"})").status, 400u);
  EXPECT_EQ(Post("/api/v2/notifications", R"(["title"])").status, 400u);
  EXPECT_EQ(Get("/api/v2/notifications").status, 405u);
  EXPECT_EQ(Get("/api/v2/nope").status, 404u);
  EXPECT_EQ(Get("/api/v2/aibridge/interceptions", false).status, 401u);
}

TEST_F(ServerApiTest, MalformedAndOversizedHttpIsRefusedAndTheServerKeepsServing) {
  EXPECT_EQ(SendRaw(server->host(), server->port(), "NOT-HTTP\r\n\r\n").status, 400u);
  const std::string huge_header =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 << 10, 'a') + "\r\n\r\n";
  EXPECT_EQ(SendRaw(server->host(), server->port(), huge_header).status, 431u);
  const auto big_body = Post("/api/v2/notifications", std::string(2 << 20, ' '));
  EXPECT_EQ(big_body.status, 413u) << big_body.error;
  // Just over the 64 KiB limit: the write completes, so the client reads the close frame it is answered with.
  EXPECT_EQ(SendWatchMessage(server->host(), server->port(), server->token(), (64 << 10) + 1), 1009);
  EXPECT_EQ(SendWatchMessage(server->host(), server->port(), server->token(), 1 << 20), 1009);
  EXPECT_EQ(Get("/healthz", false).status, 200u);
}

TEST_F(ServerApiTest, WatchRequiresTheToken) {
  std::string error;
  EXPECT_FALSE(WatchClient::Connect(server->host(), server->port(), "wrong", &error));
  EXPECT_FALSE(error.empty());
}

TEST_F(ServerApiTest, NotificationsReachConnectedWatchers) {
  std::string error;
  auto watcher = WatchClient::Connect(server->host(), server->port(), server->token(), &error);
  ASSERT_TRUE(watcher) << error;
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    const auto r =
        Post("/api/v2/notifications", json{{"title", "n" + std::to_string(i)}, {"severity", "warning"}}.dump());
    ASSERT_EQ(r.status, 202u) << r.body;
    ids.push_back(json::parse(r.body)["id"]);
  }
  for (const auto& id : ids) {
    const auto m = watcher->NextMessage(10s);
    ASSERT_TRUE(m);
    const auto j = json::parse(*m);
    EXPECT_EQ(j["type"], "notification");
    EXPECT_EQ(j["notification"]["id"], id);
    EXPECT_EQ(j["notification"]["severity"], "warning");
  }
}

TEST_F(ServerApiTest, AIGatewayProxiesToTheUpstreamAndRecordsTheInterception) {
  TestUpstream upstream;
  server->process().Stop();
  server = CoderServer::Start({.args = {"--ai-gateway-upstream-url", upstream.url() + "/base"}});
  ASSERT_TRUE(server);
  const auto r =
      Post("/api/v2/aibridge/openai/v1/chat/completions?stream=false", R"({"model":"gpt-test","messages":[]})");
  ASSERT_EQ(r.status, 200u) << r.error << r.body;
  EXPECT_EQ(r.body, TestUpstream::kReplyBody);
  ASSERT_EQ(upstream.received().size(), 1u);
  EXPECT_EQ(upstream.received()[0].target, "/base/v1/chat/completions?stream=false");
  EXPECT_EQ(upstream.received()[0].body, R"({"model":"gpt-test","messages":[]})");

  const auto list = Get("/api/v2/aibridge/interceptions");
  ASSERT_EQ(list.status, 200u);
  const auto j = json::parse(list.body);
  ASSERT_EQ(j["interceptions"].size(), 1u);
  const auto& rec = j["interceptions"][0];
  EXPECT_EQ(rec["provider"], "openai");
  EXPECT_EQ(rec["model"], "gpt-test");
  EXPECT_EQ(rec["path"], "/v1/chat/completions");
  EXPECT_EQ(rec["status"], 200);
}

TEST_F(ServerApiTest, AIGatewayWithoutUpstreamAnswers503AndWhenDisabled404) {
  const auto r = Post("/api/v2/aibridge/openai/v1/chat/completions", "{}");
  EXPECT_EQ(r.status, 503u);
  EXPECT_THAT(r.body, HasSubstr("no upstream configured"));
  server->process().Stop();
  server = CoderServer::Start({.args = {"--ai-gateway-enabled=false"}});
  ASSERT_TRUE(server);
  EXPECT_EQ(Post("/api/v2/aibridge/openai/v1/chat/completions", "{}").status, 404u);
}

TEST_F(ServerApiTest, FullNotificationQueueAnswers429) {
  server->process().Stop();
  server = CoderServer::Start({.args = {"--notifications-queue-size", "2"}});
  ASSERT_TRUE(server);
  EXPECT_EQ(Post("/api/v2/notifications", R"({"title":"a"})").status, 202u);
  EXPECT_EQ(Post("/api/v2/notifications", R"({"title":"b"})").status, 202u);
  const auto full = Post("/api/v2/notifications", R"({"title":"c"})");
  EXPECT_EQ(full.status, 429u);
  EXPECT_THAT(full.body, HasSubstr("queue is full"));
}

// Accepted with nobody watching, kept across the stop, delivered after the next start: none lost.
TEST(ServerNotificationsTest, UndeliveredNotificationsSurviveARestart) {
  TempDir dir;
  const auto config = dir.path() / "config";
  std::set<std::string> accepted;
  {
    auto first = CoderServer::Start({.config_dir = config});
    ASSERT_TRUE(first);
    for (int i = 0; i < 20; ++i) {
      const auto r =
          HttpRequest(first->host(), first->port(), "POST", "/api/v2/notifications",
                      json{{"title", "n" + std::to_string(i)}}.dump(), {{"Coder-Session-Token", first->token()}});
      ASSERT_EQ(r.status, 202u) << r.body;
      accepted.insert(json::parse(r.body)["id"].get<std::string>());
    }
    const auto exit = first->SignalAndWait(SIGTERM, 20s);
    ASSERT_TRUE(exit);
    EXPECT_EQ(exit->Describe(), "exit 0");
    EXPECT_THAT(first->Log(), HasSubstr("kept_for_next_start=20"));
  }
  auto second = CoderServer::Start({.config_dir = config});
  ASSERT_TRUE(second);
  EXPECT_THAT(second->Log(), HasSubstr("loaded undelivered notifications from the previous run  count=20"));
  std::string error;
  auto watcher = WatchClient::Connect(second->host(), second->port(), second->token(), &error);
  ASSERT_TRUE(watcher) << error;
  std::set<std::string> delivered;
  while (delivered.size() < accepted.size()) {
    const auto m = watcher->NextMessage(10s);
    ASSERT_TRUE(m) << "delivered " << delivered.size() << " of " << accepted.size();
    delivered.insert(json::parse(*m)["notification"]["id"].get<std::string>());
  }
  EXPECT_EQ(delivered, accepted);
  // Delivered now, so the next stop keeps nothing.
  ASSERT_TRUE(second->SignalAndWait(SIGTERM, 20s));
  EXPECT_THAT(second->Log(), HasSubstr("kept_for_next_start=0"));
  EXPECT_FALSE(std::filesystem::exists(config / "notifications.json"));
}

TEST(ServerBadInputTest, PortInUseExitsOneWithAClearError) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  TempDir dir;
  auto child = CoderServer::Launch({"--http-address", address, "--config-dir", (dir.path() / "c").string()});
  ASSERT_TRUE(child);
  const auto exit = child->WaitUntil(In(10s));
  ::close(fd);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->Describe(), "exit 1");
  EXPECT_THAT(child->Output(), HasSubstr("listen on " + address + ": bind: Address already in use"));
}

struct UsageCase {
  std::string name;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string message;
};

class ServerUsageTest : public ::testing::TestWithParam<UsageCase> {};

TEST_P(ServerUsageTest, ExitsTwoAndSaysWhatIsWrong) {
  auto child = CoderServer::Launch(GetParam().args, GetParam().env);
  ASSERT_TRUE(child);
  const auto exit = child->WaitUntil(In(10s));
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->Describe(), "exit 2");
  EXPECT_THAT(child->Output(), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    BadInput, ServerUsageTest,
    ::testing::Values(
        UsageCase{"UnknownFlag", {"--no-such-flag"}, {}, "The following argument was not expected: --no-such-flag"},
        UsageCase{"BadShutdownOrderFlag",
                  {"--shutdown-order", "sideways"},
                  {},
                  "invalid --shutdown-order (CODER_SHUTDOWN_ORDER) \"sideways\""},
        UsageCase{
            "BadShutdownOrderEnvironment", {}, {{"CODER_SHUTDOWN_ORDER", "sideways"}}, "want patched or unpatched"},
        UsageCase{"BadBooleanEnvironment",
                  {},
                  {{"CODER_AI_GATEWAY_ENABLED", "maybe"}},
                  "invalid --ai-gateway-enabled (CODER_AI_GATEWAY_ENABLED)"},
        UsageCase{
            "DurationWithoutUnit", {"--websocket-shutdown-timeout", "10"}, {}, "invalid duration \"10\": missing unit"},
        UsageCase{"PortOutOfRange", {"--http-address", "127.0.0.1:99999"}, {}, "not a number from 0 to 65535"},
        UsageCase{"HttpsUpstream",
                  {"--ai-gateway-upstream-url", "https://api.example"},
                  {},
                  "https upstreams are not supported"},
        UsageCase{"UnknownLogFormat", {"--log-format", "xml"}, {}, "want human or json"}),
    [](const ::testing::TestParamInfo<UsageCase>& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace coder::e2e
