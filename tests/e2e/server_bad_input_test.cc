// The real `coder server` against clients that misbehave on purpose, over real sockets: dribbled and
// silent connections, oversized and malformed HTTP, bad JSON, oversized and malformed WebSocket frames.
// Every test also runs a well-behaved client (HealthProbe) for its whole length: the server must keep
// answering it while the bad clients are connected.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <vector>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/net_client.h"
#include "tests/e2e/probed_server.h"
#include "tests/e2e/raw_client.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

constexpr int kBadClients = 50;

class ServerMisbehavingClientTest : public ProbedServerTest {
 protected:
  HttpReply Healthz() { return HttpRequest(server->host(), server->port(), "GET", "/healthz"); }
  std::vector<std::unique_ptr<RawConnection>> Connect(int n) {
    std::vector<std::unique_ptr<RawConnection>> out;
    for (int i = 0; i < n; ++i) {
      out.push_back(std::make_unique<RawConnection>(server->port()));
      EXPECT_TRUE(out.back()->ok());
    }
    return out;
  }
};

// Each dribbler sends a byte of its header every 100 ms, forever: only the read timeout can end it.
TEST_F(ServerMisbehavingClientTest, DribbledHeadersAreCutAtTheReadTimeoutWhileOthersAreServed) {
  constexpr auto kReadTimeout = 3s;
  Start({"--http-read-timeout", "3s"});
  auto dribblers = Connect(kBadClients);
  const auto started = Clock::now();
  for (auto& d : dribblers) ASSERT_TRUE(d->Send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Dribble: "));

  const HttpReply health = Healthz();
  EXPECT_EQ(health.status, 200u) << health.error;
  for (auto& d : dribblers) EXPECT_TRUE(d->StillOpen()) << "a dribbler was closed before the timeout";

  std::vector<std::optional<Clock::time_point>> closed(dribblers.size());
  size_t open = dribblers.size();
  const auto deadline = In(40s);
  // One byte every 100 ms per connection, whatever wakes the poll: polling the closed ones too (their
  // descriptors answer at once) turned the dribble into a flood past the 16 KiB header limit, a 431
  // instead of the timeout, under sanitizers.
  auto next_byte = Clock::now();
  auto close_if_gone = [&](size_t i, bool send) {
    if (closed[i]) return;
    if (!dribblers[i]->StillOpen() || (send && !dribblers[i]->Send("a"))) {
      closed[i] = Clock::now();
      --open;
    }
  };
  while (open > 0 && Clock::now() < deadline) {
    std::vector<pollfd> fds;
    std::vector<size_t> which;
    for (size_t i = 0; i < dribblers.size(); ++i) {
      if (closed[i]) continue;
      fds.push_back({.fd = dribblers[i]->fd(), .events = POLLIN, .revents = 0});
      which.push_back(i);
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_byte - Clock::now());
    ::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(0, wait.count())));
    for (size_t k = 0; k < fds.size(); ++k)
      if (fds[k].revents != 0) close_if_gone(which[k], false);
    if (Clock::now() < next_byte) continue;
    next_byte += 100ms;
    for (size_t i = 0; i < dribblers.size(); ++i) close_if_gone(i, true);
  }
  ASSERT_EQ(open, 0u) << "dribbling connections outlived the 3 s read timeout by 37 s";
  for (size_t i = 0; i < dribblers.size(); ++i) {
    EXPECT_GE(*closed[i] - started, kReadTimeout - 200ms) << "closed before its read timeout";
    EXPECT_EQ(dribblers[i]->received(), "") << "a timed-out request is closed without an answer";
  }
  EXPECT_EQ(Healthz().status, 200u);
}

TEST_F(ServerMisbehavingClientTest, SilentAndIdleKeepAliveConnectionsAreClosedAtTheIdleTimeout) {
  Start({"--http-idle-timeout", "1s"});
  auto silent = Connect(kBadClients);
  RawConnection keep_alive(server->port());
  ASSERT_TRUE(keep_alive.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  const auto started = Clock::now();

  EXPECT_EQ(Healthz().status, 200u);
  for (auto& s : silent) EXPECT_TRUE(s->StillOpen());

  for (auto& s : silent) {
    EXPECT_TRUE(s->WaitClosed(In(30s))) << "a silent connection outlived the 1 s idle timeout by 29 s";
    EXPECT_EQ(s->received(), "");
  }
  ASSERT_TRUE(keep_alive.WaitClosed(In(30s)));
  EXPECT_THAT(keep_alive.received(), HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_THAT(keep_alive.received(), Not(HasSubstr("Connection: close"))) << "HTTP/1.1 keeps the connection by default";
  EXPECT_GE(Clock::now() - started, 800ms);
  EXPECT_EQ(Healthz().status, 200u);
}

struct BadRequest {
  std::string name;
  std::string bytes;
  unsigned status;
  std::string message;
};

std::vector<BadRequest> BadRequests() {
  const std::string post = "POST /api/v2/notifications HTTP/1.1\r\nHost: x\r\n";
  std::string many_headers = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 300; ++i) many_headers += "X-Header-" + std::to_string(i) + ": " + std::string(64, 'v') + "\r\n";
  std::string chunked = post + "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 40; ++i) chunked += "10000\r\n" + std::string(0x10000, 'c') + "\r\n";  // 2.5 MiB
  chunked += "0\r\n\r\n";
  return {
      {"NotHttp", "NOT-HTTP\r\n\r\n", 400, "malformed HTTP request"},
      {"UnknownVersion", "GET /healthz HTTP/7.1\r\nHost: x\r\n\r\n", 400, "malformed HTTP request"},
      {"ControlByteInTarget", std::string("GET /heal\x01thz HTTP/1.1\r\nHost: x\r\n\r\n"), 400,
       "malformed HTTP request"},
      {"HeaderWithoutColon", "GET /healthz HTTP/1.1\r\nHost x\r\n\r\n", 400, "malformed HTTP request"},
      {"NulInHeaderValue", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n"s, 400, "malformed HTTP request"},
      {"NonNumericContentLength", post + "Content-Length: ten\r\n\r\n", 400, "malformed HTTP request"},
      {"TwoContentLengths", post + "Content-Length: 2\r\nContent-Length: 3\r\n\r\nabc", 400, "malformed HTTP request"},
      {"BadChunkSize", post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", 400, "malformed HTTP request"},
      {"OneHugeHeader", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 << 10, 'a') + "\r\n\r\n", 431,
       "request headers are larger than 16384 bytes"},
      {"ManyHeaders", many_headers + "\r\n", 431, "request headers are larger than 16384 bytes"},
      {"ContentLengthOverTheLimit", post + "Content-Length: 2097152\r\n\r\n" + std::string(2 << 20, 'b'), 413,
       "request body is larger than 1048576 bytes"},
      {"ChunkedBodyOverTheLimit", chunked, 413, "request body is larger than 1048576 bytes"},
  };
}

// The whole request is written before the answer is read, also when the server refuses it early (413
// after the headers): the server drains the rest before closing, so the client reads the answer
// instead of a reset.
TEST_F(ServerMisbehavingClientTest, MalformedAndOversizedRequestsGetTheirStatusAndAMessage) {
  Start({});
  auto bystanders = Connect(kBadClients);
  for (auto& b : bystanders) ASSERT_TRUE(b->Send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: "));
  for (const auto& bad : BadRequests()) {
    const HttpReply r = SendRaw(server->host(), server->port(), bad.bytes);
    EXPECT_EQ(r.status, bad.status) << bad.name << ": " << r.error;
    const auto body = nlohmann::json::parse(r.body, nullptr, false);
    ASSERT_TRUE(body.is_object() && body["message"].is_string()) << bad.name << ": " << r.body;
    EXPECT_THAT(body["message"].get<std::string>(), HasSubstr(bad.message)) << bad.name;
    EXPECT_EQ(Healthz().status, 200u) << "after " << bad.name;
  }
  for (auto& b : bystanders) EXPECT_TRUE(b->StillOpen()) << "a half-sent request was dropped by someone else's error";
}

struct BadJson {
  std::string name;
  std::string body;
  std::string message;
};

TEST_F(ServerMisbehavingClientTest, MalformedAndWrongTypedJsonGetA400ThatSaysWhy) {
  Start({});
  std::string deep_valid = std::string(400'000, '[') + std::string(400'000, ']');
  std::string deep_unclosed = std::string(900'000, '[');
  const std::vector<BadJson> cases = {
      {"Empty", "", "the body is not valid JSON: parse error at line 1, column 1"},
      {"Truncated", R"({"title":)", "the body is not valid JSON: parse error at line 1, column 10"},
      {"TrailingGarbage", R"({"title":"x"} extra)", "the body is not valid JSON"},
      {"SingleQuotes", R"({'title':'x'})", "the body is not valid JSON"},
      {"InvalidUtf8", "{\"title\":\"\xff\xfe\"}", "the body is not valid JSON"},
      {"Array", R"(["title"])", "the body must be a JSON object"},
      {"Null", "null", "the body must be a JSON object"},
      {"String", R"("title")", "the body must be a JSON object"},
      {"NumberTitle", R"({"title":5})", "\"title\" must be a string"},
      {"ObjectTitle", R"({"title":{"a":1}})", "\"title\" must be a string"},
      {"NullTitle", R"({"title":null})", "\"title\" must be a string"},
      {"MissingTitle", R"({"body":"b"})", "\"title\" is required"},
      {"NumberSeverity", R"({"title":"x","severity":3})", "\"severity\" must be a string"},
      {"UnknownSeverity", R"({"title":"x","severity":"panic"})", "\"severity\" must be info, warning or error"},
      {"UnknownField", R"({"title":"x","colour":"red"})", "unknown field \"colour\""},
      {"LongTitle", R"({"title":")" + std::string(201, 't') + R"("})", "\"title\" is longer than 200 bytes"},
      {"DeeplyNestedArrays", deep_valid, "the body must be a JSON object"},
      {"DeeplyNestedUnclosed", deep_unclosed, "the body is not valid JSON"},
  };
  const Headers auth = {{"Coder-Session-Token", server->token()}, {"Content-Type", "application/json"}};
  for (const auto& c : cases) {
    const HttpReply r = HttpRequest(server->host(), server->port(), "POST", "/api/v2/notifications", c.body, auth);
    EXPECT_EQ(r.status, 400u) << c.name << ": " << r.error << r.body;
    const auto body = nlohmann::json::parse(r.body, nullptr, false);
    ASSERT_TRUE(body.is_object() && body["message"].is_string()) << c.name << ": " << r.body;
    EXPECT_THAT(body["message"].get<std::string>(), HasSubstr(c.message)) << c.name;
  }
  // Nothing bad was queued, and a good one still is.
  const HttpReply good =
      HttpRequest(server->host(), server->port(), "POST", "/api/v2/notifications", R"({"title":"fine"})", auth);
  EXPECT_EQ(good.status, 202u) << good.body;
}

TEST_F(ServerMisbehavingClientTest, OversizedWebSocketFramesCloseWith1009AndAFloodIsCutOff) {
  Start({});
  const std::string mask = "\x11\x22\x33\x44";
  // Many clients each announcing a 1 GiB frame and sending its first 128 KiB: each is closed with 1009.
  std::vector<std::unique_ptr<RawWebSocket>> big;
  for (int i = 0; i < 10; ++i) {
    big.push_back(std::make_unique<RawWebSocket>(server->host(), server->port(), server->token()));
    ASSERT_EQ(big.back()->error(), "");
    ASSERT_TRUE(big.back()->SendRaw(FrameHeader(0x2, uint64_t{1} << 30, mask) + std::string(128 << 10, 'x')));
  }
  EXPECT_EQ(Healthz().status, 200u);
  for (auto& b : big) EXPECT_EQ(b->ReadCloseCode(20s), 1009) << b->read_error();

  // One that never stops sending and never reads: the server closes it, it cannot hold the session.
  RawWebSocket flood(server->host(), server->port(), server->token());
  ASSERT_EQ(flood.error(), "");
  ASSERT_TRUE(flood.SendRaw(FrameHeader(0x2, uint64_t{1} << 40, mask)));
  const std::string chunk(64 << 10, 'f');
  const auto deadline = In(30s);
  bool cut = false;
  size_t sent = 0;
  while (!cut && Clock::now() < deadline) {
    cut = !flood.SendRaw(chunk);
    sent += chunk.size();
  }
  EXPECT_TRUE(cut) << "the server kept reading a flooding WebSocket for 30 s (" << sent << " bytes)";
  EXPECT_EQ(Healthz().status, 200u);
}

// A watcher that never reads would make the server queue every notification for it for as long as its
// connection lives; past 512 unread ones it is dropped. Another watcher still gets every one.
TEST_F(ServerMisbehavingClientTest, AWatcherThatNeverReadsIsDroppedAndTheOthersGetEverything) {
  constexpr int kNotifications = 2000;
  Start({});
  RawWebSocket stalled(server->host(), server->port(), server->token(), /*receive_buffer=*/4096);
  ASSERT_EQ(stalled.error(), "");
  std::string error;
  auto reader = WatchClient::Connect(server->host(), server->port(), server->token(), &error);
  ASSERT_TRUE(reader) << error;
  const Headers auth = {{"Coder-Session-Token", server->token()}};
  const std::string body = std::string(R"({"title":"n","body":")") + std::string(4000, 'b') + "\"}";
  for (int i = 0; i < kNotifications; ++i)
    ASSERT_EQ(HttpRequest(server->host(), server->port(), "POST", "/api/v2/notifications", body, auth).status, 202u);
  EXPECT_TRUE(server->WaitForLog("websocket watcher is not reading its notifications; closing its connection", 20s));
  for (int i = 0; i < kNotifications; ++i) ASSERT_TRUE(reader->NextMessage(20s)) << "message " << i;
  EXPECT_EQ(Healthz().status, 200u);
}

TEST_F(ServerMisbehavingClientTest, ProtocolViolationsOnAWebSocketCloseWith1002) {
  Start({});
  RawWebSocket unmasked(server->host(), server->port(), server->token());
  ASSERT_EQ(unmasked.error(), "");
  ASSERT_TRUE(unmasked.SendRaw(FrameHeader(0x1, 2, "") + "hi"));  // clients must mask their frames
  EXPECT_EQ(unmasked.ReadCloseCode(20s), 1002);

  RawWebSocket bad_opcode(server->host(), server->port(), server->token());
  ASSERT_EQ(bad_opcode.error(), "");
  ASSERT_TRUE(bad_opcode.SendRaw(FrameHeader(0x3, 0, "\x01\x02\x03\x04")));  // 0x3 is reserved
  EXPECT_EQ(bad_opcode.ReadCloseCode(20s), 1002);
  EXPECT_EQ(Healthz().status, 200u);
}

TEST(ServerTimeoutFlagsTest, ZeroAndMalformedTimeoutsExitTwoNamingTheFlag) {
  for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--http-read-timeout", "0s"},
            "invalid --http-read-timeout (CODER_HTTP_READ_TIMEOUT) \"0s\": want a duration above 0"},
           {{"--http-idle-timeout", "soon"}, "invalid --http-idle-timeout (CODER_HTTP_IDLE_TIMEOUT) \"soon\""}}) {
    auto child = CoderServer::Launch(args);
    ASSERT_TRUE(child);
    const auto exit = child->WaitUntil(In(10s));
    ASSERT_TRUE(exit);
    EXPECT_EQ(exit->Describe(), "exit 2");
    EXPECT_THAT(child->Output(), HasSubstr(message));
  }
}

}  // namespace
}  // namespace coder::e2e
