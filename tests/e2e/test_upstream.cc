#include "tests/e2e/test_upstream.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace coder::e2e {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct TestUpstream::Impl {
  net::io_context ioc;
  tcp::acceptor acceptor{ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)};
  std::thread accept_thread;
  std::vector<std::thread> connections;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<Received> received;
  bool hold = false;
  bool interim = false;
  bool stopping = false;

  void Serve(tcp::socket socket) {
    beast::error_code ec;
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    http::read(socket, buffer, req, ec);
    if (ec) return;
    bool send_interim = false;
    {
      std::unique_lock lock(mu);
      received.push_back({std::string(req.method_string()), std::string(req.target()), req.body()});
      cv.notify_all();
      cv.wait(lock, [&] { return !hold || stopping; });
      send_interim = interim;
    }
    if (send_interim) {
      static constexpr std::string_view kInterim =
          "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n";
      net::write(socket, net::buffer(kInterim), ec);
    }
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = kReplyBody;
    res.prepare_payload();
    http::write(socket, res, ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }
};

TestUpstream::TestUpstream() : impl_(std::make_unique<Impl>()) {
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->accept_thread = std::thread([impl = impl_.get()] {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket(impl->ioc);
      impl->acceptor.accept(socket, ec);
      std::lock_guard lock(impl->mu);
      if (ec || impl->stopping) return;
      impl->connections.emplace_back([impl, s = std::move(socket)]() mutable { impl->Serve(std::move(s)); });
    }
  });
}

TestUpstream::~TestUpstream() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    impl_->cv.notify_all();
  }
  // Wake the blocking accept with a connection of our own; closing the acceptor from here would race it.
  beast::error_code ec;
  tcp::socket wake(impl_->ioc);
  wake.connect(impl_->acceptor.local_endpoint(), ec);
  impl_->accept_thread.join();
  for (auto& t : impl_->connections) t.join();
}

void TestUpstream::HoldReplies() {
  std::lock_guard lock(impl_->mu);
  impl_->hold = true;
}

void TestUpstream::SendInterimResponses() {
  std::lock_guard lock(impl_->mu);
  impl_->interim = true;
}

void TestUpstream::Release() {
  std::lock_guard lock(impl_->mu);
  impl_->hold = false;
  impl_->cv.notify_all();
}

bool TestUpstream::WaitForRequests(size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] { return impl_->received.size() >= n; });
}

std::vector<TestUpstream::Received> TestUpstream::received() const {
  std::lock_guard lock(impl_->mu);
  return impl_->received;
}

}  // namespace coder::e2e
