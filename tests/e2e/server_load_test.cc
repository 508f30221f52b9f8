// The real `coder server` under load, signalled mid-load: a fast version of scripts/load for the suite.
// 1000 WebSocket watchers and 8 keep-alive HTTP clients (GET /healthz, every 20th a POST of a
// notification); SIGTERM once 300 requests have been answered. Every request whose bytes were with the
// kernel before the signal must get its whole, successful answer; every watcher its close 1001; the
// server exit 0, well inside its WebSocket budget.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>

#include <fstream>
#include <iostream>
#include <iterator>

#include "harness/process/proc_fs.h"
#include "tests/e2e/coder_server.h"
#include "tests/e2e/load_driver.h"
#include "tests/e2e/raw_client.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

/// The state letter of /proc/<pid>/stat ('T' when stopped), or 0.
char ProcessState(pid_t pid) {
  const auto stat = harness::ReadProcStat(pid);
  return stat ? stat->state : 0;
}

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
  std::cout << report.Describe()
            << "shutdown (signal to exit): " << std::chrono::duration<double, std::milli>(shutdown).count() << " ms\n";
}

TEST(ServerLoadTest, SigtermMidLoadAnswersEverythingSentBeforeItAndClosesEveryWatcherWith1001) {
  ExpectLoadSurvived(SIGTERM, "Stop caught, gracefully exiting");
}

TEST(ServerLoadTest, SighupMidLoadStopsAsGracefully) {
  ExpectLoadSurvived(SIGHUP, "Hangup caught, gracefully exiting");
}

// Requests that reach a frozen server (SIGSTOP: a debugger, a stalled VM) together with the stop signal
// sit in the kernel when it resumes: new connections in the listen backlog, next requests on idle
// keep-alive connections. Sent before the stop, each must be answered, whatever order the resumed server
// sees the signal and the sockets in.
TEST(ServerDrainTest, RequestsThatArrivedWhileFrozenBeforeTheStopAreAnswered) {
  constexpr int kEach = 50;
  auto server = CoderServer::Start({});
  ASSERT_TRUE(server);
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < kEach; ++i) {
    idle.push_back(std::make_unique<RawConnection>(server->port()));
    ASSERT_TRUE(idle.back()->Send(request));
  }
  // Every first request answered: each connection is now idle, kept alive.
  for (auto& c : idle) {
    const auto deadline = In(10s);
    while (c->received().find("\r\n\r\nOK") == std::string::npos && Clock::now() < deadline && c->StillOpen()) {
      pollfd p{.fd = c->fd(), .events = POLLIN, .revents = 0};
      ::poll(&p, 1, 100);
    }
    ASSERT_NE(c->received().find("\r\n\r\nOK"), std::string::npos) << c->received();
  }

  ASSERT_TRUE(server->process().Signal(SIGSTOP));
  // SIGSTOP takes effect asynchronously: /proc says when the server is really stopped.
  const auto stopped_by = In(10s);
  while (ProcessState(server->process().pid()) != 'T' && Clock::now() < stopped_by) {
  }
  ASSERT_EQ(ProcessState(server->process().pid()), 'T');
  std::vector<std::unique_ptr<RawConnection>> backlog;
  for (int i = 0; i < kEach; ++i) {
    backlog.push_back(std::make_unique<RawConnection>(server->port()));  // the kernel completes it
    ASSERT_TRUE(backlog.back()->ok());
    ASSERT_TRUE(backlog.back()->Send(request));
  }
  for (auto& c : idle) ASSERT_TRUE(c->Send(request));
  ASSERT_TRUE(server->process().Signal(SIGTERM));
  ASSERT_TRUE(server->process().Signal(SIGCONT));

  auto answered = [&](std::vector<std::unique_ptr<RawConnection>>& conns, size_t answers) {
    int ok = 0;
    for (auto& c : conns) {
      EXPECT_TRUE(c->WaitClosed(In(20s)));
      size_t found = 0;
      for (size_t at = 0; (at = c->received().find("HTTP/1.1 200 OK", at)) != std::string::npos; ++at) ++found;
      if (found == answers) ++ok;
      else ADD_FAILURE() << "got: " << c->received();
    }
    return ok;
  };
  EXPECT_EQ(answered(backlog, 1), kEach) << "requests waiting in the listen backlog were dropped";
  EXPECT_EQ(answered(idle, 2), kEach) << "second requests on idle keep-alive connections were dropped";
  const auto exit = server->process().WaitUntil(In(20s));
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->Describe(), "exit 0") << server->Log();
}

}  // namespace
}  // namespace coder::e2e
