#include "tests/e2e/raw_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <cerrno>

#include "tests/e2e/net_client.h"

namespace coder::e2e {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

/// Sends every byte (a reset peer is false, never SIGPIPE).
bool SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

RawConnection::RawConnection(uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::Send(std::string_view bytes) { return SendAll(fd_, bytes); }

bool RawConnection::StillOpen() {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      received_.append(buf, static_cast<size_t>(n));
      return false;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

bool RawConnection::WaitClosed(std::chrono::steady_clock::time_point deadline) {
  char buf[16384];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      received_.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return true;
    if (errno != EAGAIN && errno != EINTR) return true;  // reset: closed as well
  }
}

HealthProbe::HealthProbe(std::string host, uint16_t port, std::chrono::milliseconds interval)
    : host_(std::move(host)), port_(port), interval_(interval) {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    do {  // at least once, however soon Stop() comes
      lock.unlock();
      const HttpReply r = HttpRequest(host_, port_, "GET", "/healthz", "", {}, std::chrono::seconds(10));
      lock.lock();
      if (r.status == 200 && r.body == "OK") {
        ++ok_;
      } else {
        ++failed_;
        last_failure_ = r.status != 0 ? "status " + std::to_string(r.status) : r.error;
      }
      // Pacing only, ended early by Stop(): the probe must not saturate the two cores.
      cv_.wait_for(lock, interval_, [&] { return stop_; });
    } while (!stop_);
  });
}

HealthProbe::~HealthProbe() { Stop(); }

int HealthProbe::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  return ok_;
}

std::string HealthProbe::last_failure() const {
  std::lock_guard lock(mu_);
  return last_failure_;
}

struct RawWebSocket::Impl {
  net::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
};

RawWebSocket::RawWebSocket(const std::string& host, uint16_t port, const std::string& token, int receive_buffer)
    : impl_(new Impl) {
  beast::error_code ec;
  impl_->ws.next_layer().open(tcp::v4(), ec);
  if (!ec && receive_buffer > 0)
    impl_->ws.next_layer().set_option(net::socket_base::receive_buffer_size(receive_buffer), ec);
  if (!ec) impl_->ws.next_layer().connect(tcp::endpoint(net::ip::make_address(host), port), ec);
  if (!ec) {
    impl_->ws.set_option(websocket::stream_base::decorator(
        [token](websocket::request_type& req) { req.set("Coder-Session-Token", token); }));
    impl_->ws.handshake(host + ":" + std::to_string(port), "/api/v2/notifications/watch", ec);
  }
  if (ec) error_ = ec.message();
}

RawWebSocket::~RawWebSocket() { delete impl_; }

int RawWebSocket::fd() const { return impl_->ws.next_layer().native_handle(); }

bool RawWebSocket::SendRaw(std::string_view bytes) { return SendAll(impl_->ws.next_layer().native_handle(), bytes); }

std::vector<std::string> RawWebSocket::ReadMessages(std::chrono::milliseconds timeout) {
  const int fd = impl_->ws.next_layer().native_handle();
  timeval tv{.tv_sec = timeout.count() / 1000, .tv_usec = (timeout.count() % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::vector<std::string> messages;
  beast::error_code ec;
  while (!ec) {
    beast::flat_buffer buffer;
    impl_->ws.read(buffer, ec);
    if (!ec) messages.push_back(beast::buffers_to_string(buffer.data()));
  }
  read_error_ = ec.message();
  return messages;
}

uint16_t RawWebSocket::ReadCloseCode(std::chrono::milliseconds timeout) {
  const int fd = impl_->ws.next_layer().native_handle();
  timeval tv{.tv_sec = timeout.count() / 1000, .tv_usec = (timeout.count() % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  beast::flat_buffer buffer;
  beast::error_code ec;
  while (!ec) {
    impl_->ws.read(buffer, ec);
    buffer.consume(buffer.size());
  }
  read_error_ = ec.message();
  // Set once the server's close frame has arrived, even if answering it failed (the server may have
  // closed the connection by then).
  return static_cast<uint16_t>(impl_->ws.reason().code);
}

std::string FrameHeader(uint8_t opcode, uint64_t length, std::string_view mask) {
  std::string h;
  h.push_back(static_cast<char>(0x80 | (opcode & 0x0f)));
  const uint8_t masked = mask.empty() ? 0 : 0x80;
  if (length < 126) {
    h.push_back(static_cast<char>(masked | length));
  } else if (length <= 0xffff) {
    h.push_back(static_cast<char>(masked | 126));
    for (int shift = 8; shift >= 0; shift -= 8) h.push_back(static_cast<char>((length >> shift) & 0xff));
  } else {
    h.push_back(static_cast<char>(masked | 127));
    for (int shift = 56; shift >= 0; shift -= 8) h.push_back(static_cast<char>((length >> shift) & 0xff));
  }
  h.append(mask);
  return h;
}

}  // namespace coder::e2e
