#include "tests/e2e/net_client.h"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace coder::e2e {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

net::awaitable<HttpReply> Exchange(std::string host, uint16_t port, std::string raw_or_empty,
                                   http::request<http::string_body> req, std::chrono::milliseconds timeout) {
  HttpReply out;
  beast::tcp_stream stream(co_await net::this_coro::executor);
  stream.expires_after(timeout);
  auto [cec] = co_await stream.async_connect(tcp::endpoint(net::ip::make_address(host), port),
                                             net::as_tuple(net::use_awaitable));
  if (cec) {
    out.error = "connect: " + cec.message();
    co_return out;
  }
  if (raw_or_empty.empty()) {
    auto [wec, n] = co_await http::async_write(stream, req, net::as_tuple(net::use_awaitable));
    if (wec) out.error = "write: " + wec.message();
  } else {
    auto [wec, n] = co_await net::async_write(stream, net::buffer(raw_or_empty), net::as_tuple(net::use_awaitable));
    if (wec) out.error = "write: " + wec.message();
  }
  // Even after a failed write the server may have answered (413 before the whole body): read anyway.
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  auto [rec, rn] = co_await http::async_read(stream, buffer, parser, net::as_tuple(net::use_awaitable));
  if (rec) {
    out.error += (out.error.empty() ? "" : "; ") + std::string("read: ") + rec.message();
    co_return out;
  }
  out.error.clear();
  out.status = parser.get().result_int();
  out.body = parser.get().body();
  out.content_type = std::string(parser.get()[http::field::content_type]);
  co_return out;
}

HttpReply Run(const std::string& host, uint16_t port, std::string raw, http::request<http::string_body> req,
              std::chrono::milliseconds timeout) {
  net::io_context ioc;
  auto result = net::co_spawn(ioc, Exchange(host, port, std::move(raw), std::move(req), timeout), net::use_future);
  ioc.run();
  return result.get();
}

}  // namespace

HttpReply HttpRequest(const std::string& host, uint16_t port, const std::string& method, const std::string& target,
                      const std::string& body, const Headers& headers, std::chrono::milliseconds timeout) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, host + ":" + std::to_string(port));
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  req.keep_alive(false);
  return Run(host, port, "", std::move(req), timeout);
}

HttpReply SendRaw(const std::string& host, uint16_t port, const std::string& bytes, std::chrono::milliseconds timeout) {
  return Run(host, port, bytes, {}, timeout);
}

struct WatchClient::Impl {
  net::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
  std::thread reader;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> messages;
  bool ended = false;
  uint16_t close_code = 0;
  // A second descriptor of the socket, for the destructor to shut it down with: the reader thread owns
  // the socket object (a failed read tears it down and closes it), and Asio sockets are not thread-safe.
  int shutdown_fd = -1;

  void ReadLoop() {
    beast::flat_buffer buffer;
    for (;;) {
      beast::error_code ec;
      ws.read(buffer, ec);
      std::lock_guard lock(mu);
      if (ec) {
        ended = true;
        close_code = static_cast<uint16_t>(ws.reason().code);
        cv.notify_all();
        return;
      }
      messages.push_back(beast::buffers_to_string(buffer.data()));
      buffer.consume(buffer.size());
      cv.notify_all();
    }
  }
};

WatchClient::WatchClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<WatchClient> WatchClient::Connect(const std::string& host, uint16_t port, const std::string& token,
                                                  std::string* error) {
  auto impl = std::make_unique<Impl>();
  beast::error_code ec;
  beast::get_lowest_layer(impl->ws).connect(tcp::endpoint(net::ip::make_address(host), port), ec);
  if (!ec) {
    impl->ws.set_option(websocket::stream_base::decorator(
        [token](websocket::request_type& req) { req.set("Coder-Session-Token", token); }));
    impl->ws.handshake(host + ":" + std::to_string(port), "/api/v2/notifications/watch", ec);
  }
  if (ec) {
    if (error) *error = ec.message();
    return nullptr;
  }
  impl->shutdown_fd = ::dup(beast::get_lowest_layer(impl->ws).native_handle());
  impl->reader = std::thread([p = impl.get()] { p->ReadLoop(); });
  return std::unique_ptr<WatchClient>(new WatchClient(std::move(impl)));
}

WatchClient::~WatchClient() {
  // Wakes the reader's blocking read without touching the socket object it is using (found by TSan).
  if (impl_->shutdown_fd >= 0) ::shutdown(impl_->shutdown_fd, SHUT_RDWR);
  if (impl_->reader.joinable()) impl_->reader.join();
  if (impl_->shutdown_fd >= 0) ::close(impl_->shutdown_fd);
}

std::optional<std::string> WatchClient::NextMessage(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mu);
  if (!impl_->cv.wait_for(lock, timeout, [&] { return !impl_->messages.empty() || impl_->ended; })) return std::nullopt;
  if (impl_->messages.empty()) return std::nullopt;
  std::string m = std::move(impl_->messages.front());
  impl_->messages.pop_front();
  return m;
}

std::optional<uint16_t> WatchClient::WaitClosed(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mu);
  if (!impl_->cv.wait_for(lock, timeout, [&] { return impl_->ended; })) return std::nullopt;
  return impl_->close_code;
}

uint16_t SendWatchMessage(const std::string& host, uint16_t port, const std::string& token, size_t bytes) {
  std::string error;
  net::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
  beast::error_code ec;
  beast::get_lowest_layer(ws).connect(tcp::endpoint(net::ip::make_address(host), port), ec);
  if (ec) return 0;
  ws.set_option(websocket::stream_base::decorator(
      [token](websocket::request_type& req) { req.set("Coder-Session-Token", token); }));
  ws.handshake(host + ":" + std::to_string(port), "/api/v2/notifications/watch", ec);
  if (ec) return 0;
  ws.write(net::buffer(std::string(bytes, 'x')), ec);
  beast::flat_buffer buffer;
  while (!ec) ws.read(buffer, ec);  // until the server's close frame
  return static_cast<uint16_t>(ws.reason().code);
}

}  // namespace coder::e2e
