// The real `coder server` against clients that try to make it hold more than it should: endless chunk
// extensions and trailers, more connections than it can take. A well-behaved client (HealthProbe) runs
// throughout and must be answered every time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <memory>
#include <vector>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/net_client.h"
#include "tests/e2e/raw_client.h"

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

class ServerBoundsTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> args) {
    server = CoderServer::Start({.args = std::move(args)});
    ASSERT_TRUE(server);
    probe = std::make_unique<HealthProbe>(server->host(), server->port());
  }
  void TearDown() override {
    if (!probe) return;
    probe->Stop();
    EXPECT_GT(probe->ok(), 0) << "the well-behaved client was never answered";
    EXPECT_EQ(probe->failed(), 0) << "the well-behaved client failed: " << probe->last_failure();
  }
  std::unique_ptr<CoderServer> server;
  std::unique_ptr<HealthProbe> probe;
};

// Beast 1.81 needs a chunk's size line and the trailer whole before it parses them and bounds neither:
// the old server buffered them whole (1 GiB sent, 1 GiB of RSS).
TEST_F(ServerBoundsTest, EndlessChunkExtensionsAndTrailersAreCutWithinBoundedBytesAndMemory) {
  constexpr size_t kCap = 256 << 20;        // what the client is willing to send
  constexpr size_t kMaxSent = 64 << 20;     // kernel buffers on both sides, and the linger after the answer
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
    EXPECT_THAT(r.received, AnyOf(HasSubstr("HTTP/1.1 400 Bad Request"),
                                  HasSubstr("HTTP/1.1 431 Request Header Fields Too Large")))
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

}  // namespace
}  // namespace coder::e2e
