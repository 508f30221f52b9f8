// The Node.js diagnostic report: what is kept of it, and the verdict on what holds the event loop.
#include "harness/analysis/node_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace coder::harness {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Node 20's report on SIGPWR of an http server whose close() waits for a request it never answers,
// trimmed to what the harness reads (and one secret, which must never be copied).
constexpr const char* kIdleWithConnection = R"json({
  "header": {"reportVersion": 4, "event": "SIGPWR", "trigger": "Signal", "processId": 1886},
  "javascriptStack": {"message": "", "errorProperties": {}},
  "libuv": [
    {"type": "async", "is_active": true, "is_referenced": false, "address": "0x1"},
    {"type": "timer", "is_active": true, "is_referenced": true, "address": "0x2", "repeat": 0,
     "firesInMsFromNow": 29269, "expired": false},
    {"type": "idle", "is_active": false, "is_referenced": true, "address": "0x3"},
    {"type": "signal", "is_active": true, "is_referenced": false, "signum": 30, "signal": "SIGPWR"},
    {"type": "tcp", "is_active": true, "is_referenced": true, "address": "0x4",
     "localEndpoint": {"host": "localhost", "ip4": "127.0.0.1", "port": 46695},
     "remoteEndpoint": {"host": "localhost", "ip4": "127.0.0.1", "port": 35736},
     "fd": 20, "writeQueueSize": 0, "readable": true, "writable": true},
    {"type": "loop", "is_active": true, "address": "0x5", "loopIdleTimeSeconds": 0.02}
  ],
  "environmentVariables": {"API_TOKEN": "s3cret-value"}
})json";

TEST(NodeReportTest, ReadsTheHandlesAndLeavesTheLoopOut) {
  auto report = ParseNodeReport(kIdleWithConnection);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->pid, 1886);
  EXPECT_EQ(report->trigger, "Signal");
  EXPECT_TRUE(report->js_stack.empty());
  ASSERT_EQ(report->handles.size(), 5u);
  const NodeHandle& tcp = report->handles[4];
  EXPECT_EQ(tcp.type, "tcp");
  EXPECT_EQ(tcp.local, "127.0.0.1:46695");
  EXPECT_EQ(tcp.remote, "127.0.0.1:35736");
  EXPECT_DOUBLE_EQ(report->handles[1].fires_in_ms, 29269);
}

TEST(NodeReportTest, TheVerdictNamesTheOpenConnectionAndTheTimer) {
  EXPECT_EQ(NodeReportVerdict(*ParseNodeReport(kIdleWithConnection)),
            "event loop idle; held by 1 open connection 127.0.0.1:46695 ← 127.0.0.1:35736, 1 timer");
}

TEST(NodeReportTest, TheTextKeepsNoEnvironmentVariable) {
  const std::string text = NodeReportText(*ParseNodeReport(kIdleWithConnection));
  EXPECT_THAT(text, HasSubstr("tcp 127.0.0.1:46695 <- 127.0.0.1:35736"));
  EXPECT_THAT(text, HasSubstr("timer fires in 29269 ms"));
  EXPECT_THAT(text, Not(HasSubstr("s3cret")));
  EXPECT_THAT(text, Not(HasSubstr("API_TOKEN")));
}

TEST(NodeReportTest, RunningJavaScriptAndListenersAndIpv6) {
  auto report = ParseNodeReport(R"json({"header": {"processId": 7, "trigger": "Signal"},
    "javascriptStack": {"message": "Error [ERR_SYNTHETIC]: JavaScript Callstack",
                        "stack": ["at stop (/srv/app.js:12:5)", "at process.<anonymous> (/srv/app.js:30:3)"]},
    "libuv": [
      {"type": "tcp", "is_active": true, "is_referenced": true, "localEndpoint": {"ip6": "::1", "port": 80}},
      {"type": "tcp", "is_active": true, "is_referenced": true,
       "localEndpoint": {"ip6": "::1", "port": 80}, "remoteEndpoint": {"ip6": "::1", "port": 5000}},
      {"type": "process", "is_active": true, "is_referenced": true, "pid": 99},
      {"type": "fs_event", "is_active": true, "is_referenced": true},
      {"type": "timer", "is_active": true, "is_referenced": false, "firesInMsFromNow": 5}
    ]})json");
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_EQ(report->js_stack.size(), 2u);
  EXPECT_EQ(NodeReportVerdict(*report),
            "JavaScript at stop (/srv/app.js:12:5); held by 1 open connection [::1]:80 ← [::1]:5000, 1 listener, 1 "
            "child process, 1 fs_event");
}

TEST(NodeReportTest, ManyConnectionsAreNamedThreeAndCounted) {
  std::string libuv;
  for (int i = 0; i < 5; ++i)
    libuv +=
        std::string(i ? "," : "") +
        R"json({"type": "tcp", "is_active": true, "is_referenced": true, "localEndpoint": {"ip4": "127.0.0.1", "port": 80},
                 "remoteEndpoint": {"ip4": "127.0.0.1", "port": )json" +
        std::to_string(5000 + i) + "}}";
  auto report = ParseNodeReport(R"json({"header": {}, "libuv": [)json" + libuv + "]}");
  ASSERT_TRUE(report);
  EXPECT_THAT(NodeReportVerdict(*report), HasSubstr("5 open connections 127.0.0.1:80 ← 127.0.0.1:5000, "));
  EXPECT_THAT(NodeReportVerdict(*report), HasSubstr("127.0.0.1:80 ← 127.0.0.1:5002 and 2 more"));
}

TEST(NodeReportTest, WhatIsNotAReportIsAnError) {
  auto cut = ParseNodeReport(R"json({"header": {"processId": 7}, "libuv": [)json");
  ASSERT_FALSE(cut);
  EXPECT_THAT(cut.error().message, HasSubstr("not JSON"));
  auto other = ParseNodeReport(R"json({"name": "package.json"})json");
  ASSERT_FALSE(other);
  EXPECT_THAT(other.error().message, HasSubstr("no \"header\""));
  EXPECT_FALSE(ParseNodeReport("[1, 2]"));
}

}  // namespace
}  // namespace coder::harness
