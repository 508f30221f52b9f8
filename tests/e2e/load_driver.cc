#include "tests/e2e/load_driver.h"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace coder::e2e::load {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

constexpr auto kIoTimeout = std::chrono::seconds(10);
constexpr int kMaxConnectFailuresBeforeSignal = 100;

using WebSocket = websocket::stream<beast::tcp_stream>;

/// Shared by the io thread (which alone touches `report`'s vectors and counters) and the calling thread
/// (which waits on the atomics through `cv` and reads `report` once the io thread has been joined).
struct State {
  State(const Options& o, net::io_context& c) : options(o), ioc(c), endpoint(net::ip::make_address(o.host), o.port) {}

  const Options& options;
  net::io_context& ioc;
  const tcp::endpoint endpoint;
  Report report;
  int next_websocket = 0;                  // io thread
  int connect_failures_before_signal = 0;  // io thread

  std::mutex mu;
  std::condition_variable cv;
  std::atomic<int> handshakes_done{0};
  std::atomic<int> answered{0};
  std::atomic<int> http_running{0};
  std::atomic<int> websockets_running{0};
  std::atomic<bool> signalled{false};
  std::atomic<bool> stopping{false};

  void Notify() {
    std::lock_guard lock(mu);
    cv.notify_all();
  }
  std::string HostPort() const { return fmt::format("{}:{}", options.host, options.port); }
  void SetToken(WebSocket& ws) const {
    ws.set_option(websocket::stream_base::decorator(
        [token = options.token](websocket::request_type& req) { req.set("Coder-Session-Token", token); }));
  }
  http::request<http::string_body> MakeRequest(bool post, int seq) const {
    http::request<http::string_body> req(post ? http::verb::post : http::verb::get,
                                         post ? "/api/v2/notifications" : "/healthz", 11);
    req.set(http::field::host, HostPort());
    if (post) {
      req.set("Coder-Session-Token", options.token);
      req.set(http::field::content_type, "application/json");
      req.body() = fmt::format(R"({{"title":"load {}"}})", seq);
    }
    req.prepare_payload();
    return req;
  }
};

net::awaitable<void> ReadWebSocket(State& s, std::shared_ptr<WebSocket> ws, int index) {
  WebSocketRecord& record = s.report.websockets[static_cast<size_t>(index)];
  beast::flat_buffer buffer;
  for (;;) {
    auto [ec, n] = co_await ws->async_read(buffer, net::as_tuple(net::use_awaitable));
    if (ec) {
      // Beast answers the close frame and waits for the server to close the TCP connection first.
      if (ec == websocket::error::closed) record.close_code = static_cast<uint16_t>(ws->reason().code);
      else record.error = ec.message();
      break;
    }
    ++record.messages;
    buffer.consume(n);
  }
  --s.websockets_running;
  s.Notify();
}

net::awaitable<void> OpenWebSockets(State& s) {
  while (s.next_websocket < s.options.websockets) {
    const int index = s.next_websocket++;
    auto ws = std::make_shared<WebSocket>(s.ioc);
    beast::get_lowest_layer(*ws).expires_after(kIoTimeout);
    auto [cec] = co_await beast::get_lowest_layer(*ws).async_connect(s.endpoint, net::as_tuple(net::use_awaitable));
    boost::system::error_code ec = cec;
    if (!ec) {
      s.SetToken(*ws);
      auto [hec] =
          co_await ws->async_handshake(s.HostPort(), "/api/v2/notifications/watch", net::as_tuple(net::use_awaitable));
      ec = hec;
    }
    WebSocketRecord& record = s.report.websockets[static_cast<size_t>(index)];
    if (ec) {
      record.error = "upgrade: " + ec.message();
    } else {
      beast::get_lowest_layer(*ws).expires_never();
      record.upgraded = true;
      ++s.websockets_running;
      net::co_spawn(s.ioc, ReadWebSocket(s, std::move(ws), index), net::detached);
    }
    ++s.handshakes_done;
    s.Notify();
  }
}

net::awaitable<void> HttpClient(State& s, int connection) {
  int seq = 0;
  while (!s.stopping) {
    beast::tcp_stream stream(s.ioc);
    stream.expires_after(kIoTimeout);
    auto [cec] = co_await stream.async_connect(s.endpoint, net::as_tuple(net::use_awaitable));
    if (cec) {
      if (s.signalled && cec == net::error::connection_refused) {
        ++s.report.connect_refused_after;  // the listener has closed: this client is done
        break;
      }
      ++s.report.connect_failed;
      if (s.signalled || ++s.connect_failures_before_signal > kMaxConnectFailuresBeforeSignal) break;
      continue;
    }
    beast::flat_buffer buffer;
    for (bool first = true; !s.stopping; first = false) {
      const bool post = s.options.post_every > 0 && ++seq % s.options.post_every == 0;
      auto req = s.MakeRequest(post, seq);
      HttpRecord record;
      record.connection = connection;
      record.method = post ? "POST" : "GET";
      record.new_connection = first;
      stream.expires_after(kIoTimeout);
      auto [wec, wn] = co_await http::async_write(stream, req, net::as_tuple(net::use_awaitable));
      if (wec) {
        record.error = "write: " + wec.message();
        s.report.http.push_back(std::move(record));
        break;
      }
      record.sent_at = Clock::now();
      http::response_parser<http::string_body> parser;
      auto [rec, rn] = co_await http::async_read(stream, buffer, parser, net::as_tuple(net::use_awaitable));
      if (rec) {
        record.outcome = parser.got_some() ? HttpOutcome::kTruncated : HttpOutcome::kNoResponse;
        record.error = "read: " + rec.message();
        s.report.http.push_back(std::move(record));
        break;
      }
      record.outcome = HttpOutcome::kComplete;
      record.status = parser.get().result_int();
      s.report.http.push_back(std::move(record));
      ++s.answered;
      s.Notify();
      if (!parser.get().keep_alive()) break;
    }
  }
  --s.http_running;
  s.Notify();
}

bool Expected(const HttpRecord& r) {
  return r.outcome == HttpOutcome::kComplete && r.status == (r.method == "POST" ? 202u : 200u);
}

std::string Ms(Clock::duration d) {
  return fmt::format("{:.3f} ms", std::chrono::duration<double, std::milli>(d).count());
}

}  // namespace

Summary Report::Summarize() const {
  Summary s;
  for (const auto& r : http) {
    if (r.outcome == HttpOutcome::kTruncated) ++s.truncated;
    if (r.outcome == HttpOutcome::kNotSent) continue;
    if (r.sent_at < signal_at) {
      ++s.sent_before;
      if (Expected(r)) ++s.answered_before;
    } else {
      ++s.sent_after;
      if (r.outcome == HttpOutcome::kComplete) ++s.answered_after;
      else ++s.unanswered_after;
    }
  }
  for (const auto& w : websockets) {
    if (w.upgraded) ++s.websockets_up;
    if (w.close_code == 1001) ++s.websockets_1001;
    s.notifications_received += w.messages;
  }
  s.connect_refused_after = connect_refused_after;
  s.connect_failed = connect_failed;
  return s;
}

std::vector<std::string> Report::Violations(size_t max) const {
  std::vector<std::string> out;
  auto add = [&](std::string line) {
    if (out.size() < max) out.push_back(std::move(line));
  };
  if (timed_out) add("the load did not end by its deadline (clients still open)");
  for (size_t i = 0; i < http.size(); ++i) {
    const auto& r = http[i];
    if (r.outcome == HttpOutcome::kNotSent) continue;
    const bool before = r.sent_at < signal_at;
    const std::string when =
        before ? Ms(signal_at - r.sent_at) + " before the signal" : Ms(r.sent_at - signal_at) + " after the signal";
    if (before && !Expected(r)) {
      add(fmt::format("{} #{} on connection {}{} sent {}: {}", r.method, i, r.connection,
                      r.new_connection ? " (new)" : "", when,
                      r.outcome == HttpOutcome::kComplete ? fmt::format("status {}", r.status) : r.error));
    } else if (r.outcome == HttpOutcome::kTruncated) {
      add(fmt::format("{} #{} on connection {} sent {}: a truncated answer ({})", r.method, i, r.connection, when,
                      r.error));
    }
  }
  for (size_t i = 0; i < websockets.size(); ++i) {
    const auto& w = websockets[i];
    if (!w.upgraded) add(fmt::format("WebSocket #{} was not upgraded: {}", i, w.error));
    else if (w.close_code != 1001)
      add(fmt::format("WebSocket #{} ended with close code {} ({})", i, w.close_code,
                      w.error.empty() ? "no close frame" : w.error));
  }
  if (connect_failed > 0)
    add(fmt::format("{} connects failed other than by a refusal after the signal", connect_failed));
  return out;
}

std::string Report::Describe() const {
  const Summary s = Summarize();
  return fmt::format(
      "websockets: {} upgraded in {}, {} closed with 1001, {} notifications received\n"
      "http before the signal: {} sent, {} answered in full\n"
      "http after the signal: {} sent, {} answered, {} unanswered (closed by the drain), {} connects refused\n"
      "truncated answers: {}; other connect failures: {}\n"
      "load before the signal: {}\n",
      s.websockets_up, Ms(websockets_up_at - started_at), s.websockets_1001, s.notifications_received, s.sent_before,
      s.answered_before, s.sent_after, s.answered_after, s.unanswered_after, s.connect_refused_after, s.truncated,
      s.connect_failed, Ms(signal_at - websockets_up_at));
}

Report Run(const Options& options) {
  net::io_context ioc(1);
  auto work = net::make_work_guard(ioc);
  State s(options, ioc);
  s.report.websockets.resize(static_cast<size_t>(options.websockets));
  s.report.started_at = Clock::now();
  const auto deadline = s.report.started_at + options.deadline;
  const int launchers = std::max(1, std::min(options.max_handshakes_in_flight, options.websockets));
  for (int i = 0; i < launchers; ++i) net::co_spawn(ioc, OpenWebSockets(s), net::detached);
  std::thread io([&] { ioc.run(); });

  std::unique_lock lock(s.mu);
  s.cv.wait_until(lock, deadline, [&] { return s.handshakes_done >= options.websockets; });
  s.report.websockets_up_at = Clock::now();
  lock.unlock();
  if (options.on_websockets_up) options.on_websockets_up();
  lock.lock();
  s.http_running = options.http_connections;
  for (int c = 0; c < options.http_connections; ++c) net::co_spawn(ioc, HttpClient(s, c), net::detached);

  // The load runs until its count of answers and its duration are both reached.
  s.cv.wait_until(lock, deadline, [&] { return s.answered >= options.requests_before_signal; });
  const auto load_until = std::min(deadline, s.report.websockets_up_at + options.load_before_signal);
  s.cv.wait_until(lock, load_until, [&] { return s.http_running == 0; });
  lock.unlock();
  s.report.signal_at = Clock::now();
  s.signalled = true;
  if (options.send_signal) options.send_signal();

  lock.lock();
  const bool ended = s.cv.wait_until(lock, deadline, [&] { return s.http_running == 0 && s.websockets_running == 0; });
  lock.unlock();
  s.report.timed_out = !ended;
  s.stopping = true;
  work.reset();
  ioc.stop();
  io.join();
  return std::move(s.report);
}

}  // namespace coder::e2e::load
