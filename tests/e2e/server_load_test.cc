// The real `coder server` under load, signalled mid-load: a fast version of scripts/load for the suite.
// 1000 WebSocket watchers and 8 keep-alive HTTP clients (GET /healthz, every 20th a POST of a
// notification); SIGTERM once 300 requests have been answered. Every request whose bytes were with the
// kernel before the signal must get its whole, successful answer; every watcher its close 1001; the
// server exit 0, well inside its WebSocket budget.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <iostream>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/load_driver.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

void ExpectLoadSurvived(int sig, const std::string& signal_line) {
  auto server = CoderServer::Start({});
  ASSERT_TRUE(server);
  load::Options options;
  options.port = server->port();
  options.token = server->token();
  options.websockets = 1000;
  options.http_connections = 8;
  options.requests_before_signal = 300;
  options.deadline = 60s;
  options.send_signal = [&] { ASSERT_TRUE(server->process().Signal(sig)); };
  const load::Report report = load::Run(options);
  const auto exit = server->process().WaitUntil(In(30s));

  ASSERT_TRUE(exit) << "the server did not exit within 30 s of the signal\n" << report.Describe();
  EXPECT_EQ(exit->Describe(), "exit 0") << server->Log();
  const auto shutdown = exit->at - report.signal_at;
  // The budget is the 10 s WebSocket wait; patched, with every watcher answering, it takes milliseconds.
  EXPECT_LT(shutdown, 5s) << report.Describe();
  const auto violations = report.Violations();
  for (const auto& v : violations) ADD_FAILURE() << v;
  const load::Summary s = report.Summarize();
  EXPECT_EQ(s.websockets_up, 1000u);
  EXPECT_EQ(s.websockets_1001, 1000u);
  EXPECT_GE(s.answered_before, 300u);
  EXPECT_EQ(s.answered_before, s.sent_before);
  EXPECT_THAT(server->Log(), HasSubstr(signal_line));
  EXPECT_THAT(server->Log(), HasSubstr("Done waiting for WebSocket connections"));
  std::cout << report.Describe() << "shutdown (signal to exit): "
            << std::chrono::duration<double, std::milli>(shutdown).count() << " ms\n";
}

TEST(ServerLoadTest, SigtermMidLoadAnswersEverythingSentBeforeItAndClosesEveryWatcherWith1001) {
  ExpectLoadSurvived(SIGTERM, "Stop caught, gracefully exiting");
}

TEST(ServerLoadTest, SighupMidLoadStopsAsGracefully) {
  ExpectLoadSurvived(SIGHUP, "Hangup caught, gracefully exiting");
}

}  // namespace
}  // namespace coder::e2e
