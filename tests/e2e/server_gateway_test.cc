// The AI gateway of the real `coder server` against requests and upstreams that try to get past it:
// dot-segments, interim upstream answers, smuggled requests, and oversized fields in its records.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/net_client.h"
#include "tests/e2e/raw_client.h"
#include "tests/e2e/test_upstream.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

class ServerGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server = CoderServer::Start({.args = {"--ai-gateway-upstream-url", upstream.url()}});
    ASSERT_TRUE(server);
  }
  HttpReply Post(const std::string& target, const std::string& body) {
    return HttpRequest(server->host(), server->port(), "POST", target, body,
                       {{"Coder-Session-Token", server->token()}, {"Content-Type", "application/json"}});
  }
  HttpReply Interceptions() {
    return HttpRequest(server->host(), server->port(), "GET", "/api/v2/aibridge/interceptions", "",
                       {{"Coder-Session-Token", server->token()}});
  }

  TestUpstream upstream;
  std::unique_ptr<CoderServer> server;
};

// A normalising upstream would serve these outside the provider's root.
TEST_F(ServerGatewayTest, DotSegmentsAlsoPercentEncodedGet400AndNeverReachTheUpstream) {
  for (const std::string path :
       {"/api/v2/aibridge/openai/../../secret", "/api/v2/aibridge/openai/v1/../x",
        "/api/v2/aibridge/openai/%2e%2e/%2E%2E/secret", "/api/v2/aibridge/openai/.%2e/x",
        "/api/v2/aibridge/openai/%2e/x", "/api/v2/aibridge/openai/v1/..%2f..%2fsecret",
        "/api/v2/aibridge/openai/..%5csecret", "/api/v2/aibridge/openai/v1/..", "/api/v2/aibridge/openai/v1/%zz"}) {
    const HttpReply r = Post(path + "?q=1", R"({"model":"m"})");
    EXPECT_EQ(r.status, 400u) << path << ": " << r.error << r.body;
    EXPECT_THAT(r.body, HasSubstr("segment")) << path;
  }
  const HttpReply ok = Post("/api/v2/aibridge/openai/v1/chat.completions/..x/%2e%2ey", R"({"model":"m"})");
  EXPECT_EQ(ok.status, 200u) << ok.error << ok.body;
  ASSERT_TRUE(upstream.WaitForRequests(1, 10s));
  const auto received = upstream.received();
  ASSERT_EQ(received.size(), 1u) << "a dot-segment path reached the upstream: " << received.back().target;
  EXPECT_EQ(received[0].target, "/v1/chat.completions/..x/%2e%2ey");
}

TEST_F(ServerGatewayTest, InterimUpstreamAnswersAreSkippedAndTheFinalOneRelayed) {
  upstream.SendInterimResponses();
  for (int i = 0; i < 3; ++i) {
    const HttpReply r = Post("/api/v2/aibridge/openai/v1/chat/completions", R"({"model":"m"})");
    EXPECT_EQ(r.status, 200u) << r.error << r.body;
    EXPECT_EQ(r.body, TestUpstream::kReplyBody);
  }
}

// RFC 9112 6.1: with a final coding other than chunked the request has no knowable length; read as
// bodiless, the bytes after its header were taken as a second, smuggled request.
TEST_F(ServerGatewayTest, ATransferEncodingThatDoesNotEndWithChunkedGets400AndCloses) {
  const std::string token = "Coder-Session-Token: " + server->token() + "\r\n";
  const std::string smuggled =
      "POST /api/v2/aibridge/openai/smuggled HTTP/1.1\r\nHost: x\r\n" + token + "Content-Length: 2\r\n\r\n{}";
  for (const std::string te : {"gzip", "chunked, gzip", "identity", "gzip, chunked, identity"}) {
    RawConnection c(server->port());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c.Send("POST /api/v2/aibridge/openai/v1/chat HTTP/1.1\r\nHost: x\r\n" + token +
                       "Transfer-Encoding: " + te + "\r\n\r\n" + smuggled));
    EXPECT_TRUE(c.WaitClosed(In(10s))) << te;
    EXPECT_THAT(c.received(), HasSubstr("HTTP/1.1 400 Bad Request")) << te;
    EXPECT_THAT(c.received(), HasSubstr("Transfer-Encoding must end with chunked")) << te;
    EXPECT_EQ(c.received().find("\nHTTP/1.1 "), std::string::npos) << te << ": a second answer came:\n" << c.received();
  }
  // HTTP/1.0 has no Transfer-Encoding: even chunked is refused there.
  RawConnection old(server->port());
  ASSERT_TRUE(old.Send("POST /api/v2/aibridge/openai/v1 HTTP/1.0\r\nHost: x\r\n" + token +
                       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
  EXPECT_TRUE(old.WaitClosed(In(10s)));
  EXPECT_THAT(old.received(), HasSubstr(" 400 Bad Request"));
  for (const auto& r : upstream.received()) EXPECT_THAT(r.target, ::testing::Not(HasSubstr("smuggled")));
  EXPECT_TRUE(upstream.received().empty());
  // A chunked request is still proxied.
  RawConnection chunked(server->port());
  ASSERT_TRUE(chunked.Send("POST /api/v2/aibridge/openai/v1/chat HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + token +
                           "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"));
  EXPECT_TRUE(chunked.WaitClosed(In(10s)));
  EXPECT_THAT(chunked.received(), HasSubstr("HTTP/1.1 200 OK"));
}

// A model just under the body limit made a record frame over the RPC's 1 MiB: the refused frame left its
// call queued, so every later call took the previous call's reply and waited its 2 s timeout.
TEST_F(ServerGatewayTest, AnOversizedModelNeitherDesynchronisesTheRecordsNorSlowsLaterRequests) {
  constexpr auto kFast = 1s;  // a proxied request takes milliseconds; the old desync cost 2 s each
  const std::string near_limit = R"({"model":")" + std::string((1 << 20) - 64, 'm') + R"("})";
  const HttpReply big = Post("/api/v2/aibridge/openai/v1/big", near_limit);
  EXPECT_EQ(big.status, 200u) << big.error << big.body;
  const HttpReply huge = Post("/api/v2/aibridge/openai/v1/huge", R"({"model":")" + std::string(2 << 20, 'm') + R"("})");
  EXPECT_EQ(huge.status, 413u) << "a 2 MiB body is over the request limit";

  for (int i = 0; i < 5; ++i) {
    const auto started = Clock::now();
    const HttpReply r = Post("/api/v2/aibridge/openai/v1/n" + std::to_string(i), R"({"model":"small"})");
    const auto took = Clock::now() - started;
    EXPECT_EQ(r.status, 200u) << r.error << r.body;
    EXPECT_EQ(r.body, TestUpstream::kReplyBody);
    EXPECT_LT(took, kFast) << "request " << i << " waited for a reply meant for another call";
  }
  const auto list = nlohmann::json::parse(Interceptions().body, nullptr, false);
  ASSERT_TRUE(list.is_object()) << list;
  std::vector<std::string> paths;
  for (const auto& rec : list["interceptions"]) {
    paths.push_back(rec.value("path", ""));
    EXPECT_FALSE(rec.contains("error")) << rec.dump().substr(0, 300);
  }
  EXPECT_THAT(paths, ::testing::ElementsAre("/v1/big", "/v1/n0", "/v1/n1", "/v1/n2", "/v1/n3", "/v1/n4"));
  const auto& first = list["interceptions"][0];
  EXPECT_EQ(first.value("model", "").size(), 256u) << "the model is kept truncated";
  EXPECT_EQ(first.value("model_bytes", 0u), (1u << 20) - 64);
  EXPECT_THAT(server->Log(), ::testing::Not(HasSubstr("could not record an interception")));
}

// 1000 records of large models would hold about 1 GiB; the records are bounded by bytes.
TEST_F(ServerGatewayTest, InterceptionRecordsStayUnderTheirByteBound) {
  constexpr size_t kBound = 4 << 20;
  const std::string body = R"({"model":")" + std::string(900 << 10, 'm') + R"("})";
  const std::string long_path = "/api/v2/aibridge/openai/" + std::string(6 << 10, 'p');
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(Post("/api/v2/aibridge/openai/v1/r" + std::to_string(i), body).status, 200u);
    EXPECT_EQ(Post(long_path, R"({"model":"m"})").status, 200u);
  }
  const HttpReply list = Interceptions();
  ASSERT_EQ(list.status, 200u) << list.error;
  EXPECT_LT(list.body.size(), kBound);
  const auto j = nlohmann::json::parse(list.body, nullptr, false);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["total"], 40);
  EXPECT_EQ(j["interceptions"].size(), 40u) << "small records are all kept";
}

}  // namespace
}  // namespace coder::e2e
