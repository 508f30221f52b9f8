// POST /api/v2/notifications against the real `coder server` with its durability on: every 202 comes
// after the notification's group commit (SQLite WAL, synchronous=FULL) in the config dir.

#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "bench/server_process.h"

namespace coder::bench {
namespace {

/// One keep-alive connection sending POSTs one after another; counts the 202s. Blocking sockets: the
/// client stays simple and cheap next to the server's work.
class PostClient {
 public:
  PostClient(const std::string& host, uint16_t port, const std::string& token) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    int one = 1;
    if (fd_ >= 0) ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const std::string body = R"({"title":"bench","body":"durable","severity":"info"})";
    request_ = "POST /api/v2/notifications HTTP/1.1\r\nHost: bench\r\nCoder-Session-Token: " + token +
               "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
               body;
  }
  ~PostClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  /// Sends one request and reads its whole response; the status, or 0 if the connection failed.
  unsigned Post() {
    if (fd_ < 0 || ::send(fd_, request_.data(), request_.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request_.size()))
      return 0;
    for (;;) {
      const size_t header_end = buffer_.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        const size_t cl = buffer_.find("Content-Length: ");
        const size_t length = cl < header_end ? std::stoul(buffer_.substr(cl + 16)) : 0;
        if (buffer_.size() >= header_end + 4 + length) {
          const unsigned status = static_cast<unsigned>(std::stoul(buffer_.substr(9, 3)));
          buffer_.erase(0, header_end + 4 + length);
          return status;
        }
      }
      char chunk[4096];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return 0;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string request_;
  std::string buffer_;
};

// Arg: concurrent keep-alive clients. Manual time: the wall time of 250 POSTs per client; the rate
// counter is accepted (202) notifications per second.
void BM_NotificationPostDurable(benchmark::State& state) {
  const int clients = static_cast<int>(state.range(0));
  const int kPostsPerIteration = 250 * clients;
  auto server = BenchServer::Start({.gateway = false, .extra_args = {"--notifications-queue-size", "1000000"}});
  if (!server) return Fail(state, server.error().message);
  std::vector<std::unique_ptr<PostClient>> conns;
  for (int i = 0; i < clients; ++i)
    conns.push_back(std::make_unique<PostClient>((*server)->host(), (*server)->port(), (*server)->token()));
  uint64_t accepted_total = 0;
  double seconds_total = 0;
  for (auto _ : state) {
    std::atomic<int> next{0};
    std::atomic<uint64_t> accepted{0};
    std::atomic<uint64_t> refused{0};
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (auto& c : conns)
      threads.emplace_back([&, client = c.get()] {
        while (next.fetch_add(1) < kPostsPerIteration) (client->Post() == 202 ? accepted : refused)++;
      });
    for (auto& t : threads) t.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    state.SetIterationTime(seconds);
    if (refused > 0) return Fail(state, std::to_string(refused.load()) + " POSTs were not answered 202");
    accepted_total += accepted;
    seconds_total += seconds;
  }
  state.counters["accepted_per_s"] = static_cast<double>(accepted_total) / seconds_total;
  state.counters["clients"] = clients;
}
BENCHMARK(BM_NotificationPostDurable)
    ->ArgName("clients")
    ->Arg(1)
    ->Arg(16)
    ->Arg(64)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace coder::bench
