// The real `coder server` against clients that try to make it hold more than it should: endless chunk
// extensions and trailers, more connections than it can take. A well-behaved client (HealthProbe) runs
// throughout and must be answered every time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/net_client.h"
#include "tests/e2e/probed_server.h"
#include "tests/e2e/raw_client.h"
#include "tests/harness/harness_test_util.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

/// A field of /proc/PID/status in KiB (VmRSS, VmHWM), or -1.
long StatusKib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

struct EndlessResult {
  size_t sent = 0;
  bool answered = false;
  bool closed = false;
  std::string received;
};

/// Sends `head`, then `filler` over and over (up to `cap` bytes) until the server answers or the
/// connection fails; then waits for the close.
EndlessResult SendEndless(uint16_t port, const std::string& head, size_t cap) {
  EndlessResult out;
  RawConnection c(port);
  if (!c.ok() || !c.Send(head)) return out;
  const std::string filler(64 << 10, 'e');
  while (out.sent < cap) {
    if (!c.StillOpen()) break;  // an answer came, or the server closed
    if (!c.Send(filler)) break;
    out.sent += filler.size();
  }
  out.closed = c.WaitClosed(In(20s));
  out.received = c.received();
  out.answered = !out.received.empty();
  return out;
}

using ServerBoundsTest = ProbedServerTest;

// Beast 1.81 needs a chunk's size line and the trailer whole before it parses them and bounds neither:
// the old server buffered them whole (1 GiB sent, 1 GiB of RSS).
TEST_F(ServerBoundsTest, EndlessChunkExtensionsAndTrailersAreCutWithinBoundedBytesAndMemory) {
  constexpr size_t kCap = 256 << 20;         // what the client is willing to send
  constexpr size_t kMaxSent = 64 << 20;      // kernel buffers on both sides, and the linger after the answer
  constexpr long kMaxPeakRssKib = 96 << 10;  // the idle server is about 6 MiB
  Start({});
  const std::string auth = "Coder-Session-Token: " + server->token() + "\r\n";
  struct Case {
    std::string name;
    std::string head;
  };
  const std::string chunked = "Transfer-Encoding: chunked\r\n\r\n";
  const std::string healthz = "GET /healthz HTTP/1.1\r\nHost: x\r\n" + chunked;
  const std::string post = "POST /api/v2/notifications HTTP/1.1\r\nHost: x\r\n" + auth + chunked;
  const std::vector<Case> cases = {
      {"HealthzExtension", healthz + "1;ext="},
      {"HealthzTrailer", healthz + "0\r\nX-Trailer: "},
      {"PostExtension", post + "1;ext="},
      {"PostTrailer", post + "2\r\n{}\r\n0\r\nX-Trailer: "},
  };
  for (const auto& c : cases) {
    const EndlessResult r = SendEndless(server->port(), c.head, kCap);
    EXPECT_LT(r.sent, kMaxSent) << c.name << ": the server kept reading an endless chunk line";
    EXPECT_TRUE(r.closed) << c.name;
    EXPECT_THAT(r.received,
                AnyOf(HasSubstr("HTTP/1.1 400 Bad Request"), HasSubstr("HTTP/1.1 431 Request Header Fields Too Large")))
        << c.name;
    const long peak = StatusKib(server->process().pid(), "VmHWM");
    EXPECT_GT(peak, 0);
    EXPECT_LT(peak, kMaxPeakRssKib) << c.name << ": peak RSS " << peak << " KiB";
  }
  // Chunked bodies with short extensions and trailers are still taken.
  const std::string good = post + "10;name=value\r\n{\"title\":\"ok\"}  \r\n0\r\nX-Done: yes\r\n\r\n";
  const HttpReply r = SendRaw(server->host(), server->port(), good);
  EXPECT_EQ(r.status, 202u) << r.error << r.body;
}

size_t OpenDescriptors(pid_t pid) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

// The old server took every connection until the descriptors ran out (at 19,990 of 20,000 /healthz
// stopped answering). At the limit idle connections make room, a reserve answers /healthz, and past the
// reserve new connections wait in the backlog; the stop stays bounded.
TEST_F(ServerBoundsTest, PastTheConnectionLimitIdleOnesMakeRoomHealthzIsAnsweredAndTheStopIsBounded) {
  constexpr size_t kMax = 200;
  constexpr size_t kReserve = 16;
  constexpr size_t kOwnDescriptors = 40;  // listener, stdio, RPC socketpair, epoll, state files
  Start({"--max-connections", std::to_string(kMax)});
  const pid_t pid = server->process().pid();
  const auto healthz = [&] { return HttpRequest(server->host(), server->port(), "GET", "/healthz").status; };

  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 500; ++i) {
    idle.push_back(std::make_unique<RawConnection>(server->port()));
    ASSERT_TRUE(idle.back()->ok());
  }
  EXPECT_EQ(healthz(), 200u);
  EXPECT_TRUE(harness::testing::Eventually([&] { return OpenDescriptors(pid) <= kMax + kOwnDescriptors; }, In(10s)))
      << OpenDescriptors(pid) << " descriptors open with 500 idle connections";

  // Connections with a request under way cannot be closed to make room: they fill the limit.
  std::vector<std::unique_ptr<RawConnection>> busy;
  auto add_busy = [&](size_t n) {
    for (size_t i = 0; i < n; ++i) {
      busy.push_back(std::make_unique<RawConnection>(server->port()));
      ASSERT_TRUE(busy.back()->ok());
      ASSERT_TRUE(busy.back()->Send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "));
    }
  };
  add_busy(kMax);
  ASSERT_TRUE(server->WaitForLog("at the connection limit", 10s)) << server->Log();
  EXPECT_EQ(healthz(), 200u) << "the reserve answers /healthz";
  const HttpReply other = HttpRequest(server->host(), server->port(), "GET", "/api/v2/buildinfo");
  EXPECT_EQ(other.status, 503u) << other.error;
  EXPECT_THAT(other.body, HasSubstr("connection limit"));

  // Past the reserve too: new connections wait in the backlog and the reserve turns over.
  add_busy(kReserve + 20);
  EXPECT_EQ(healthz(), 200u) << "the reserve turns over within its 2 s deadline";
  EXPECT_LE(OpenDescriptors(pid), kMax + kReserve + kOwnDescriptors);

  // The well-behaved client was answered all along; the stop ends it.
  probe->Stop();
  EXPECT_GT(probe->ok(), 0);
  EXPECT_EQ(probe->failed(), 0) << probe->last_failure();
  probe.reset();
  const auto sent = Clock::now();
  const auto exit = server->SignalAndWait(SIGTERM, 30s);
  ASSERT_TRUE(exit) << server->Log();
  EXPECT_EQ(exit->Describe(), "exit 0") << server->Log();
  EXPECT_LT(exit->at - sent, 10s) << "the drain (3 s) and a loaded machine";
}

}  // namespace
}  // namespace coder::e2e
