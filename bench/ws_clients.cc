#include "bench/ws_clients.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace coder::bench {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

struct WatchClients::Impl {
  struct Client {
    explicit Client(net::io_context& ioc) : ws(ioc) {}
    websocket::stream<tcp::socket> ws;
    beast::flat_buffer buffer;
  };

  net::io_context ioc;
  std::vector<std::unique_ptr<Client>> clients;
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  CloseTally tally;  // guarded by mu

  // Reads until the session ends; a close frame from the server is answered inside async_read, which
  // then completes with websocket::error::closed and the server's code in reason().
  void Read(Client* c) {
    c->ws.async_read(c->buffer, [this, c](beast::error_code ec, size_t) {
      if (!ec) {
        c->buffer.consume(c->buffer.size());
        Read(c);
        return;
      }
      std::lock_guard lock(mu);
      ++tally.ended;
      ++tally.by_code[static_cast<uint16_t>(c->ws.reason().code)];
      tally.last_end = std::chrono::steady_clock::now();
      cv.notify_all();
    });
  }
};

WatchClients::WatchClients(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<WatchClients> WatchClients::Connect(const std::string& host, uint16_t port, const std::string& token,
                                                    int count, std::string* error) {
  auto impl = std::make_unique<Impl>();
  const tcp::endpoint endpoint(net::ip::make_address(host), port);
  const std::string authority = host + ":" + std::to_string(port);
  // Synchronous set-up before the io thread runs: the connects are not what is measured, and doing them
  // one at a time never overflows the server's accept backlog.
  for (int i = 0; i < count; ++i) {
    auto c = std::make_unique<Impl::Client>(impl->ioc);
    beast::error_code ec;
    beast::get_lowest_layer(c->ws).connect(endpoint, ec);
    if (!ec) {
      c->ws.set_option(websocket::stream_base::decorator(
          [token](websocket::request_type& req) { req.set("Coder-Session-Token", token); }));
      c->ws.handshake(authority, "/api/v2/notifications/watch", ec);
    }
    if (ec) {
      if (error) *error = "client " + std::to_string(i) + ": " + ec.message();
      return nullptr;
    }
    impl->clients.push_back(std::move(c));
  }
  for (auto& c : impl->clients) impl->Read(c.get());
  impl->thread = std::thread([p = impl.get()] { p->ioc.run(); });
  return std::unique_ptr<WatchClients>(new WatchClients(std::move(impl)));
}

WatchClients::~WatchClients() {
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

CloseTally WatchClients::WaitAllEnded(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(impl_->mu);
  const auto total = static_cast<int>(impl_->clients.size());
  impl_->cv.wait_until(lock, deadline, [&] { return impl_->tally.ended >= total; });
  return impl_->tally;
}

}  // namespace coder::bench
