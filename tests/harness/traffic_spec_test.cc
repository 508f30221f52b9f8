// The traffic flags' parsing, the latency histogram's percentiles, and the traffic record's JSON.
#include "harness/traffic/traffic_spec.h"

#include <gtest/gtest.h>

#include <new>
#include <string_view>

#include <boost/beast/http/parser.hpp>

#include "harness/analysis/traffic_analysis.h"
#include "harness/analysis/traffic_json.h"
#include "harness/traffic/counting_body.h"
#include "harness/traffic/latency_histogram.h"

namespace coder::harness {
namespace {

TEST(TrafficSpecTest, ClientFlagsParseKindCountAndPath) {
  auto ws = ParseClientFlag("websocket:1000:/api/v2/watch");
  ASSERT_TRUE(ws.ok()) << ws.error().message;
  EXPECT_EQ(*ws, (ClientSpec{ClientKind::kWebsocket, 1000, "/api/v2/watch"}));
  auto silent = ParseClientFlag("silent:3");
  ASSERT_TRUE(silent.ok());
  EXPECT_EQ(*silent, (ClientSpec{ClientKind::kSilent, 3, "/"}));
}

// `--client websocket:3` against the built-in server upgraded "/" and was answered 404.
TEST(TrafficSpecTest, AWebsocketWithoutAPathGoesToTheTargetsKnownEndpoint) {
  auto ws = ParseClientFlag("websocket:3", "/api/v2/notifications/watch");
  ASSERT_TRUE(ws.ok());
  EXPECT_EQ(ws->path, "/api/v2/notifications/watch");
  EXPECT_EQ(ParseClientFlag("websocket:3:/ws", "/api/v2/notifications/watch")->path, "/ws");
  EXPECT_EQ(ParseClientFlag("idle:3", "/api/v2/notifications/watch")->path, "/");
}

TEST(TrafficSpecTest, BadClientFlagsSayWhatIsWrong) {
  const std::pair<const char*, const char*> cases[] = {
      {"websocket", "no COUNT"},
      {"sleepy:3", "unknown kind \"sleepy\""},
      {"idle:0", "is not a whole number from 1 to"},
      {"idle:-1", "is not a whole number"},
      {"idle:100001", "is not a whole number from 1 to 100000"},
      {"idle:2:healthz", "must start with /"},
      {"idle:2:/a b", "blank or control character"},
      {"idle:2:/a\r\nX-Injected: 1", "blank or control character"},
  };
  for (const auto& [text, why] : cases) {
    auto parsed = ParseClientFlag(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_NE(parsed.error().message.find(why), std::string::npos) << text << ": " << parsed.error().message;
  }
}

TEST(TrafficSpecTest, LoadFlagsParseARateOrMax) {
  auto rate = ParseLoadFlag("500/s:/healthz");
  ASSERT_TRUE(rate.ok());
  EXPECT_EQ(rate->rate_per_s, 500.0);
  EXPECT_EQ(rate->path, "/healthz");
  auto max = ParseLoadFlag("max");
  ASSERT_TRUE(max.ok());
  EXPECT_FALSE(max->rate_per_s);
  EXPECT_EQ(max->path, "/");
  for (const char* bad : {"500:/x", "0/s:/x", "-3/s", "nan/s", "1e9/s", "/s", "fast:/x", "10/s:x"})
    EXPECT_FALSE(ParseLoadFlag(bad).ok()) << bad;
}

TEST(TrafficSpecTest, HeadersRefuseInjectedLines) {
  auto h = ParseHeaderFlag("Coder-Session-Token:  abc");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, (std::pair<std::string, std::string>("Coder-Session-Token", "abc")));
  EXPECT_FALSE(ParseHeaderFlag("X: a\r\nHost: evil").ok());
  EXPECT_FALSE(ParseHeaderFlag("Bad Name: a").ok());
  EXPECT_FALSE(ParseHeaderFlag(": a").ok());
}

TEST(TrafficSpecTest, ClientUrlsGiveHostAndPort) {
  EXPECT_EQ(*ParseClientUrl("http://127.0.0.1:8080/healthz"), (ClientUrl{"127.0.0.1", "8080"}));
  EXPECT_EQ(*ParseClientUrl("http://localhost"), (ClientUrl{"localhost", "80"}));
  EXPECT_EQ(*ParseClientUrl("ws://[::1]:9000"), (ClientUrl{"::1", "9000"}));
  for (const char* bad : {"https://x", "http://", "http://h:0", "http://h:99999", "http://u@h:1", "ftp://h"})
    EXPECT_FALSE(ParseClientUrl(bad).ok()) << bad;
  EXPECT_EQ(OriginOf("http://127.0.0.1:8080/healthz?x"), "http://127.0.0.1:8080");
  EXPECT_EQ(OriginOf("nonsense"), "");
}

TEST(LatencyHistogramTest, PercentilesAreWithinTwoPercentAbove) {
  LatencyHistogram h;
  for (int i = 1; i <= 1000; ++i) h.Add(i * 0.01);  // 0.01 .. 10 ms
  const LatencySummary s = h.Summary();
  EXPECT_EQ(s.count, 1000u);
  EXPECT_GE(s.p50_ms, 5.0);
  EXPECT_LE(s.p50_ms, 5.0 * 1.02);
  EXPECT_GE(s.p99_ms, 9.9);
  EXPECT_LE(s.p99_ms, 9.9 * 1.02);
  EXPECT_DOUBLE_EQ(s.max_ms, 10.0);
  EXPECT_EQ(LatencyHistogram().Summary().count, 0u);
}

TrafficRecord SampleTraffic() {
  TrafficRecord t;
  t.url = "http://127.0.0.1:1234";
  t.established = false;
  t.establish_detail = "--client idle:1:/: 0 of 1 established";
  ClientGroupRecord ws{.kind = "websocket", .path = "/ws", .count = 3, .established = 3};
  ws.connections.closed = 2;
  ws.connections.open_at_exit = 1;
  ws.websocket_close_codes = {{1001, 2}};
  ws.last_closed_ms = 12.5;
  t.clients.push_back(ws);
  LoadRecord load{.path = "/healthz", .rate_per_s = 500, .connections = 8};
  load.requests = {.answered_before = 10, .answered_after = 4, .refused = 3, .dropped = 1, .tried = 18};
  load.statuses = {{200, 13}, {503, 1}};
  load.duration_ms = 36;
  load.achieved_per_s = 500;
  load.before = {.count = 10, .p50_ms = 0.1, .p99_ms = 0.3, .max_ms = 0.4};
  t.load = load;
  return t;
}

TEST(TrafficJsonTest, ARecordRoundTrips) {
  const std::optional<TrafficRecord> t = SampleTraffic();
  std::optional<TrafficRecord> back;
  ASSERT_TRUE(ReadTraffic(nlohmann::json::parse(TrafficJson(t).dump()), back));
  EXPECT_EQ(back, t);
  EXPECT_TRUE(TrafficJson(std::nullopt).is_null());
  std::optional<TrafficRecord> none;
  EXPECT_TRUE(ReadTraffic(nullptr, none));
  EXPECT_FALSE(none);
}

TEST(TrafficJsonTest, AWrongTypeAnywhereIsMalformed) {
  nlohmann::json j = TrafficJson(SampleTraffic());
  j["load"]["requests"]["dropped"] = "one";
  std::optional<TrafficRecord> back;
  EXPECT_FALSE(ReadTraffic(j, back));
  j = TrafficJson(SampleTraffic());
  j["clients"][0]["websocket_close_codes"] = {{"going-away", 1}};
  EXPECT_FALSE(ReadTraffic(j, back));
}

TEST(TrafficAnalysisTest, DroppedAndHeldByClientFindingsNameWhatHappened) {
  RunRecord run;
  run.variant = "v";
  run.traffic = SampleTraffic();
  run.outcome = Outcome::kSlow;
  run.latency_ms = 10'004;
  EXPECT_EQ(DroppedFinding(run),
            "1 request the server took and never answered whole (1 of --load /healthz); of 18 tried");
  EXPECT_EQ(HeldByClientFinding(run), "stop took 10.0 s; websocket /ws (1 of 3) open until exit");
  run.outcome = Outcome::kClean;  // a quick stop is not held by anyone
  EXPECT_FALSE(HeldByClientFinding(run));
  EXPECT_EQ(ClientsNotEstablished(run), "--client idle:1:/: 0 of 1 established");
}

TEST(TrafficAnalysisTest, ASummaryAddsRunsAndRoundTrips) {
  TrafficTally tally;
  RunRecord run;
  run.traffic = SampleTraffic();
  tally.Add(run);
  tally.Add(run);
  tally.Add(RunRecord{});  // no traffic: not counted
  const auto s = tally.Summary();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->runs, 2u);
  EXPECT_EQ(s->requests.dropped, 2u);
  EXPECT_EQ(s->requests.tried, 36u);
  EXPECT_EQ(s->connections.open_at_exit, 2u);
  EXPECT_EQ(s->websocket_close_codes.at(1001), 4u);
  EXPECT_EQ(s->achieved_per_s_mean, 500.0);
  EXPECT_DOUBLE_EQ(s->latency_before_p99_ms, 0.3);
  EXPECT_EQ(TrafficSummary::FromJson(nlohmann::json::parse(s->ToJson().dump())), s);
  EXPECT_FALSE(TrafficTally().Summary());
}

// The count was a plain integer, default-initialised by Beast's message: a parser made where an old
// one had counted (a recycled coroutine frame) began with its count, and an inflight answer whose body
// had not begun read as "its whole answer (100000000 bytes) had arrived".
TEST(CountingBodyTest, AParserMadeWhereAnotherCountedStartsFromZero) {
  using Parser = boost::beast::http::response_parser<CountingBody>;
  alignas(Parser) unsigned char storage[sizeof(Parser)];
  auto* first = new (storage) Parser;
  const std::string_view text = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello";
  boost::beast::error_code ec;
  const size_t header = first->put(boost::asio::buffer(text.data(), text.size()), ec);
  ASSERT_FALSE(ec) << ec.message();
  first->put(boost::asio::buffer(text.data() + header, text.size() - header), ec);
  ASSERT_EQ(first->get().body().bytes, 5u);
  first->~Parser();
  auto* second = new (storage) Parser;
  EXPECT_EQ(second->get().body().bytes, 0u);
  second->~Parser();
}

}  // namespace
}  // namespace coder::harness
