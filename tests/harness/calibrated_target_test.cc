// The calibrated target's own contract: the other harness tests rely on it being exact.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <string>

#include "harness/process/child_process.h"
#include "tests/harness/harness_test_util.h"

namespace coder::harness {
namespace {

using namespace testing;

std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "connect failed";
  }
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return "write failed";
  }
  std::string response;
  char buf[1024];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) response.append(buf, static_cast<size_t>(n));
  close(fd);
  return response;
}

TEST(CalibratedTargetTest, ServesHttpOnThePortNamedInItsReadyLine) {
  auto child = StartOrFail(Calibrated({"--http-port", "0"}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->WaitForLine(Contains("Started HTTP listener at http://127.0.0.1:"), In(5s)));
  int port = 0;
  ASSERT_EQ(std::sscanf(child->Lines().back().text.c_str(), "Started HTTP listener at http://127.0.0.1:%d", &port), 1);
  ASSERT_GT(port, 0);
  EXPECT_EQ(HttpGet(port, "/").rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_EQ(HttpGet(port, "/missing").rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u);
}

TEST(CalibratedTargetTest, UsesACustomReadyLine) {
  auto child = StartOrFail(Calibrated({"--ready-line", "listening"}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->WaitForLine([](const OutputLine& l) { return l.text == "listening"; }, In(5s)));
}

TEST(CalibratedTargetTest, PrintsChattyLinesAtItsRate) {
  auto child = StartOrFail(Calibrated({"--lines-per-second", "200"}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->WaitForLine([](const OutputLine& l) { return l.text == "line 1"; }, In(5s)));
  ASSERT_TRUE(child->WaitForLine([](const OutputLine& l) { return l.text == "line 41"; }, In(5s)));
  auto lines = child->Lines();
  Clock::time_point first{}, last{};
  for (const auto& l : lines) {
    if (l.text == "line 1") first = l.at;
    if (l.text == "line 41") last = l.at;
  }
  // 40 periods of 5 ms; `at` is when the harness read a line, so allow for batched reads.
  EXPECT_GE(last - first, 150ms);
  EXPECT_LT(last - first, 2s);
}

TEST(CalibratedTargetTest, StopItselfRunsTheWholeCycleThroughItsOwnHandler) {
  auto child = StartOrFail(Calibrated({"--stop-itself"}));
  ASSERT_TRUE(child);
  auto status = child->WaitUntil(In(5s));
  ASSERT_TRUE(status);
  EXPECT_EQ(status->Describe(), "exit 0");
  const std::string out = child->Output();
  const auto ready = out.find("Started HTTP listener");
  const auto handled = out.find("signal SIGTERM received");
  ASSERT_NE(ready, std::string::npos) << out;
  ASSERT_NE(handled, std::string::npos) << out;
  EXPECT_LT(ready, handled);
  EXPECT_NE(out.find("exiting with code 0"), std::string::npos) << out;
}

TEST(CalibratedTargetTest, CrashBeforeReadyAborts) {
  auto child = StartOrFail(Calibrated({"--crash-before-ready"}));
  ASSERT_TRUE(child);
  EXPECT_FALSE(child->WaitForLine(Contains("Started HTTP listener"), In(5s)));
  auto status = child->WaitUntil(In(5s));
  ASSERT_TRUE(status);
  EXPECT_EQ(status->Describe(), "killed by SIGABRT");
}

TEST(CalibratedTargetTest, IgnoresASecondSignalDuringItsExitDelay) {
  auto child = StartOrFail(Calibrated({"--exit-after-ms", "300", "--exit-code", "4"}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->WaitForLine(Contains("Started HTTP listener"), In(5s)));
  auto signalled_at = Clock::now();
  ASSERT_TRUE(child->Signal(SIGTERM).ok());
  ASSERT_TRUE(child->WaitForLine(Contains("signal SIGTERM received"), In(5s)));
  ASSERT_TRUE(child->Signal(SIGINT).ok());
  auto status = child->WaitUntil(In(5s));
  ASSERT_TRUE(status);
  EXPECT_EQ(status->Describe(), "exit 4");
  EXPECT_GE(status->at - signalled_at, 300ms);
  EXPECT_EQ(child->Output().find("signal SIGINT received"), std::string::npos);
}

TEST(CalibratedTargetTest, SignalRightAfterStartNeverHangs) {
  auto child = StartOrFail(Calibrated({"--never-ready"}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->Signal(SIGTERM).ok());
  auto status = child->WaitUntil(In(5s));
  ASSERT_TRUE(status);
  // Sent before main() ran, the default action would kill it; that is the exec race the readiness
  // line exists for, so accept either but never a hang.
  EXPECT_TRUE(status->Describe() == "exit 0" || status->Describe() == "killed by SIGTERM") << status->Describe();
}

TEST(CalibratedTargetTest, RejectsUnknownFlagsWithExitCode2) {
  auto child = StartOrFail(Calibrated({"--bogus"}));
  ASSERT_TRUE(child);
  auto status = child->WaitUntil(In(5s));
  ASSERT_TRUE(status);
  EXPECT_EQ(status->Describe(), "exit 2");
}

}  // namespace
}  // namespace coder::harness
