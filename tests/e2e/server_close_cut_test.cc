// The graceful stop of the real `coder server` against WebSocket peers that never take what it writes:
// the close cut must hold whatever the peer does.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/net_client.h"
#include "tests/e2e/raw_client.h"
#include "tests/harness/harness_test_util.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

/// The send queue (bytes written, not yet taken by the peer) of the loopback TCP socket from
/// `local_port` to `remote_port`, from /proc/net/tcp; -1 if there is none.
long SendQueue(uint16_t local_port, uint16_t remote_port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues;
    fields >> slot >> local >> remote >> state >> queues;
    if (std::stoul(local.substr(local.find(':') + 1), nullptr, 16) != local_port) continue;
    if (std::stoul(remote.substr(remote.find(':') + 1), nullptr, 16) != remote_port) continue;
    return std::stol(queues.substr(0, queues.find(':')), nullptr, 16);
  }
  return -1;
}

uint16_t LocalPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

/// Sends masked pings as fast as the connection takes them and never reads the pongs, in the
/// background, until the connection fails. Counts the bytes sent.
class PingFlooder {
 public:
  PingFlooder(const CoderServer& server) : ws_(server.host(), server.port(), server.token(), /*receive_buffer=*/4096) {
    if (!ws_.error().empty()) return;
    thread_ = std::thread([this] {
      std::string pings;
      for (int i = 0; i < 256; ++i) pings += FrameHeader(0x9, 125, "\x01\x02\x03\x04") + std::string(125, 'p');
      while (ws_.SendRaw(pings)) sent_ += pings.size();
    });
  }
  ~PingFlooder() {
    if (thread_.joinable()) thread_.join();
  }
  bool ok() const { return ws_.error().empty(); }
  uint16_t local_port() const { return LocalPort(ws_.fd()); }
  size_t sent() const { return sent_; }

 private:
  RawWebSocket ws_;
  std::atomic<size_t> sent_{0};
  std::thread thread_;
};

TEST(ServerCloseCutTest, PeersWithFullBuffersAndPingFloodersCannotHoldTheStopPastTheCloseCut) {
  constexpr auto kCloseCut = 2s;
  constexpr auto kMargin = 3s;  // the notifications step (up to 1 s) and a loaded machine
  auto server = CoderServer::Start({});
  ASSERT_TRUE(server);
  std::string error;
  auto good = WatchClient::Connect(server->host(), server->port(), server->token(), &error);
  ASSERT_TRUE(good) << error;
  RawWebSocket stalled(server->host(), server->port(), server->token(), /*receive_buffer=*/4096);
  ASSERT_EQ(stalled.error(), "");
  const uint16_t stalled_port = LocalPort(stalled.fd());

  const Headers auth = {{"Coder-Session-Token", server->token()}};
  const std::string body = std::string(R"({"title":"n","body":")") + std::string(4000, 'b') + "\"}";
  // Post until the server's writes to the stalled watcher block: its socket's send queue stops growing
  // while notifications keep coming (they wait in the session's outbox, far below its 512 limit).
  long last_queue = -1;
  int unchanged = 0;
  for (int i = 0; i < 3000 && unchanged < 20; ++i) {
    ASSERT_EQ(HttpRequest(server->host(), server->port(), "POST", "/api/v2/notifications", body, auth).status, 202u);
    const long queue = SendQueue(server->port(), stalled_port);
    unchanged = queue > 0 && queue == last_queue ? unchanged + 1 : 0;
    last_queue = queue;
  }
  ASSERT_EQ(unchanged, 20) << "the server's writes to the stalled watcher never blocked";
  ASSERT_FALSE(server->Log().find("is not reading its notifications") != std::string::npos)
      << "the stalled watcher was dropped before the stop; the test needs it connected";

  std::vector<std::unique_ptr<PingFlooder>> flooders;
  for (int i = 0; i < 10; ++i) {
    flooders.push_back(std::make_unique<PingFlooder>(*server));
    ASSERT_TRUE(flooders.back()->ok());
  }
  // Each flooder's unread pongs pile up in the server's send queue; they keep flooding through the stop.
  for (auto& f : flooders) {
    const uint16_t port = f->local_port();
    EXPECT_TRUE(harness::testing::Eventually([&] { return SendQueue(server->port(), port) > (1 << 20); }, In(20s)))
        << "a flooder's pongs never piled up: " << f->sent() << " bytes of pings sent";
  }

  const auto sent = Clock::now();
  const auto exit = server->SignalAndWait(SIGTERM, 30s);
  ASSERT_TRUE(exit) << server->Log();
  const auto took = exit->at - sent;
  EXPECT_EQ(exit->Describe(), "exit 0") << server->Log();
  EXPECT_LT(took, kCloseCut + kMargin) << server->Log();
  EXPECT_EQ(good->WaitClosed(5s), std::optional<uint16_t>(1001));
  EXPECT_THAT(server->Log(), ::testing::Not(HasSubstr("websocket shutdown timed out")));
}

}  // namespace
}  // namespace coder::e2e
