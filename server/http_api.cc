#include "server/http_api.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <fmt/format.h>

#include <atomic>
#include <deque>
#include <map>

#include "common/duration.h"
#include "server/notifications.h"
#include "server/random.h"
#include "server/run_on_io.h"
#include "server/websocket_session.h"

namespace coder::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::string_view kTokenHeader = "Coder-Session-Token";
constexpr std::string_view kWatchPath = "/api/v2/notifications/watch";
constexpr size_t kMaxInterceptionsKept = 1000;

struct HttpConnection {
  HttpConnection(tcp::socket s, uint64_t id_) : stream(std::move(s)), id(id_) {}
  beast::tcp_stream stream;
  uint64_t id;
  std::string remote;
  bool in_request = false;
  net::cancellation_signal cancel;
};

std::string RemoteOf(const tcp::socket& s) {
  error_code ec;
  const auto ep = s.remote_endpoint(ec);
  return ec ? std::string("unknown") : fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

// Parse failures that are the client's fault, as opposed to a connection that simply ended.
bool IsMalformedRequest(const error_code& ec) {
  if (ec.category() != http::make_error_code(http::error::bad_method).category()) return false;
  return ec != http::error::end_of_stream && ec != http::error::partial_message && ec != http::error::need_more;
}

}  // namespace

struct HttpApi::Impl : std::enable_shared_from_this<Impl> {
  Impl(net::io_context& ioc_, Config config_, NotificationsManager& notifications_, Logger& log_)
      : ioc(ioc_), config(std::move(config_)), notifications(notifications_), log(log_), acceptor(ioc_) {}

  net::io_context& ioc;
  const Config config;
  nlohmann::json buildinfo = nlohmann::json::object();
  NotificationsManager& notifications;
  Logger& log;
  tcp::acceptor acceptor;
  AiGatewayHandler gateway;
  WaitGroup websockets;
  WaitGroup requests;

  // Touched only on the io thread.
  std::map<uint64_t, std::shared_ptr<HttpConnection>> connections;
  std::map<uint64_t, std::weak_ptr<WatchSession>> sessions;
  std::deque<nlohmann::json> interceptions;
  uint64_t next_id = 1;
  uint64_t interceptions_recorded = 0;

  // Read by DumpState from the signal thread.
  std::atomic<bool> draining{false};
  std::atomic<bool> closed{false};
  std::atomic<bool> started{false};
  std::atomic<uint64_t> rpc_sessions{0};
  std::atomic<size_t> live_connections{0};
  std::atomic<size_t> live_sessions{0};

  bool Authorized(const http::request<http::string_body>& req) const {
    const auto it = req.find(kTokenHeader);
    return it != req.end() && ConstantTimeEquals(std::string(it->value()), config.session_token);
  }

  net::awaitable<void> AcceptLoop();
  net::awaitable<void> Serve(std::shared_ptr<HttpConnection> conn);
  net::awaitable<bool> Write(HttpConnection& conn, const ApiResponse& r, unsigned version, bool keep_alive);
  net::awaitable<ApiResponse> Route(const ApiRequest& r, bool authorized);
  ApiResponse PostNotification(const ApiRequest& r);
  net::awaitable<void> ServeRpc(std::shared_ptr<rpc::Socket> socket, WaitGroupSlot slot, std::string name);
  nlohmann::json HandleRpc(const nlohmann::json& message);

  // Braced field lists live in these plain functions, never in a coroutine body: g++ 12 destroys an
  // initializer_list temporary inside a coroutine twice.
  void LogAcceptFailure(const error_code& ec) { log.Warn("accept failed", {{"error", ec.message()}}); }
  void LogRpcClosed(const std::string& name) { log.Info("AI gateway RPC session closed", {{"session", name}}); }
  ApiResponse InterceptionsResponse() const {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& i : interceptions) list.push_back(i);
    return ApiResponse::Json(200, {{"interceptions", list}, {"total", interceptions_recorded}});
  }
  void CloseConnection(HttpConnection& c) {
    error_code ec;
    c.stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    c.stream.close();
  }

  // The shutdown phases' work on the io thread, shared by the phases and by Close().
  void StopAccepting() {
    draining = true;
    error_code ec;
    acceptor.close(ec);
  }
  /// Cancels every connection's request context and closes it; returns how many were mid-request.
  size_t CancelConnections() {
    size_t in_flight = 0;
    for (auto& [id, c] : connections) {
      if (c->in_request) ++in_flight;
      c->cancel.emit(net::cancellation_type::terminal);
      CloseConnection(*c);
    }
    return in_flight;
  }
  /// Sends close 1001 to every live WebSocket; returns how many.
  size_t CloseSessions() {
    size_t open = 0;
    for (auto& [id, weak] : sessions) {
      if (auto session = weak.lock()) {
        session->Close(beast::websocket::close_code::going_away);
        ++open;
      }
    }
    return open;
  }
};

net::awaitable<void> HttpApi::Impl::AcceptLoop() {
  auto self = shared_from_this();
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
    if (ec) {
      if (!acceptor.is_open() || ec == net::error::operation_aborted) co_return;
      LogAcceptFailure(ec);
      // Out of descriptors and the like: pause instead of spinning on the same error.
      net::steady_timer pause(ioc, std::chrono::milliseconds(50));
      co_await pause.async_wait(net::as_tuple(net::use_awaitable));
      continue;
    }
    if (draining) continue;  // the socket closes as it goes out of scope
    auto conn = std::make_shared<HttpConnection>(std::move(socket), next_id++);
    conn->remote = RemoteOf(conn->stream.socket());
    connections.emplace(conn->id, conn);
    ++live_connections;
    net::co_spawn(ioc, Serve(conn),
                  net::bind_cancellation_slot(conn->cancel.slot(), [self, conn](std::exception_ptr) {
                    if (self->connections.erase(conn->id) > 0) --self->live_connections;
                  }));
  }
}

net::awaitable<bool> HttpApi::Impl::Write(HttpConnection& conn, const ApiResponse& r, unsigned version,
                                          bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "coder");
  res.set(http::field::content_type, r.content_type);
  res.keep_alive(keep_alive);
  res.body() = r.body;
  res.prepare_payload();
  conn.stream.expires_after(config.request_read_timeout);
  auto [ec, n] = co_await http::async_write(conn.stream, res, net::as_tuple(net::use_awaitable));
  co_return !ec;
}

net::awaitable<void> HttpApi::Impl::Serve(std::shared_ptr<HttpConnection> conn) {
  auto self = shared_from_this();
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(config.max_header_bytes));
    parser.body_limit(config.max_body_bytes);
    conn->stream.expires_after(config.request_read_timeout);
    auto [ec, n] = co_await http::async_read(conn->stream, buffer, parser, net::as_tuple(net::use_awaitable));
    if (ec) {
      std::optional<ApiResponse> reply;
      if (ec == http::error::header_limit) {
        reply = ApiResponse::Error(431, "request headers are too large");
      } else if (ec == http::error::body_limit) {
        reply = ApiResponse::Error(413, fmt::format("request body is larger than {} bytes", config.max_body_bytes));
      } else if (IsMalformedRequest(ec)) {
        reply = ApiResponse::Error(400, fmt::format("malformed HTTP request: {}", ec.message()));
      }
      if (reply) co_await Write(*conn, *reply, 11, false);
      break;
    }
    auto& req = parser.get();
    const std::string target(req.target());
    const std::string path = target.substr(0, target.find('?'));

    if (beast::websocket::is_upgrade(req)) {
      ApiResponse refusal;
      if (path != kWatchPath) refusal = ApiResponse::Error(404, "no WebSocket endpoint at this path");
      else if (!Authorized(req)) refusal = ApiResponse::Error(401, "missing or invalid Coder-Session-Token header");
      else if (draining) refusal = ApiResponse::Error(503, "the server is shutting down");
      if (refusal.status != 200) {
        co_await Write(*conn, refusal, req.version(), false);
        break;
      }
      // From here the connection is a WebSocket: the HTTP drain no longer owns it.
      if (connections.erase(conn->id) > 0) --live_connections;
      auto session = std::make_shared<WatchSession>(std::move(conn->stream), notifications, websockets, self,
                                                    fmt::format("websocket {}#{} from {}", path, conn->id, conn->remote),
                                                    log);
      sessions.emplace(conn->id, session);
      ++live_sessions;
      co_await session->Run(parser.release());
      sessions.erase(conn->id);
      --live_sessions;
      co_return;
    }

    WaitGroupSlot in_flight(requests, fmt::format("{} {} from {}", std::string(req.method_string()), target, conn->remote));
    conn->in_request = true;
    ApiRequest api_req{std::string(req.method_string()), target, path, std::string(req[http::field::content_type]),
                       std::move(req.body()), conn->remote};
    const ApiResponse res = co_await Route(api_req, Authorized(req));
    const bool keep_alive = req.keep_alive() && !draining;
    const bool written = co_await Write(*conn, res, req.version(), keep_alive);
    conn->in_request = false;
    in_flight.Release();
    if (!written || !keep_alive) break;
  }
  error_code ignored;
  conn->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

net::awaitable<ApiResponse> HttpApi::Impl::Route(const ApiRequest& r, bool authorized) {
  const std::string& p = r.path;
  auto method_not_allowed = [&](std::string_view allowed) {
    return ApiResponse::Error(405, fmt::format("{} is not allowed on {}; use {}", r.method, p, allowed));
  };
  const ApiResponse unauthorized = ApiResponse::Error(401, "missing or invalid Coder-Session-Token header");

  if (p == "/healthz") {
    co_return r.method == "GET" ? ApiResponse::Text(200, "OK") : method_not_allowed("GET");
  }
  if (p == "/api/v2/buildinfo") {
    co_return r.method == "GET" ? ApiResponse::Json(200, buildinfo) : method_not_allowed("GET");
  }
  if (p == "/api/v2/notifications") {
    if (r.method != "POST") co_return method_not_allowed("POST");
    if (!authorized) co_return unauthorized;
    co_return PostNotification(r);
  }
  if (p == kWatchPath) co_return ApiResponse::Error(400, "this endpoint needs a WebSocket upgrade");
  if (p == "/api/v2/aibridge/interceptions") {
    if (r.method != "GET") co_return method_not_allowed("GET");
    if (!authorized) co_return unauthorized;
    co_return InterceptionsResponse();
  }
  if (p.rfind("/api/v2/aibridge/", 0) == 0) {
    if (r.method != "POST") co_return method_not_allowed("POST");
    if (!authorized) co_return unauthorized;
    if (!gateway) co_return ApiResponse::Error(404, "the AI gateway is disabled (--ai-gateway-enabled=false)");
    co_return co_await gateway(r);
  }
  co_return ApiResponse::Error(404, fmt::format("no route for {}", p));
}

ApiResponse HttpApi::Impl::PostNotification(const ApiRequest& r) {
  const auto body = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return ApiResponse::Error(400, "the body is not valid JSON");
  auto result = notifications.Enqueue(body);
  if (const auto* n = std::get_if<Notification>(&result)) return ApiResponse::Json(202, n->ToJson());
  const auto& rejection = std::get<NotificationsManager::Rejection>(result);
  switch (rejection.reason) {
    case NotificationsManager::RejectReason::kInvalid: return ApiResponse::Error(400, rejection.message);
    case NotificationsManager::RejectReason::kQueueFull: return ApiResponse::Error(429, rejection.message);
    case NotificationsManager::RejectReason::kClosed: return ApiResponse::Error(503, rejection.message);
  }
  return ApiResponse::Error(500, "unexpected rejection");
}

net::awaitable<void> HttpApi::Impl::ServeRpc(std::shared_ptr<rpc::Socket> socket, WaitGroupSlot slot,
                                             std::string name) {
  auto self = shared_from_this();
  // A frame's parameters die after its locals: were the slot left a parameter, a frame destroyed with
  // the io_context would release it after `self`, into a wait group already freed.
  WaitGroupSlot held = std::move(slot);
  for (;;) {
    auto [ec, message] = co_await rpc::ReadFrame(*socket);
    if (ec) break;
    if (co_await rpc::WriteFrame(*socket, HandleRpc(message))) break;
  }
  LogRpcClosed(name);
  held.Release();
}

nlohmann::json HttpApi::Impl::HandleRpc(const nlohmann::json& message) {
  const std::string method = message.is_object() ? message.value("method", "") : "";
  if (method == "RecordInterception" && message.contains("params") && message["params"].is_object()) {
    nlohmann::json record = message["params"];
    record["seq"] = ++interceptions_recorded;
    interceptions.push_back(std::move(record));
    if (interceptions.size() > kMaxInterceptionsKept) interceptions.pop_front();
    return {{"ok", true}, {"seq", interceptions_recorded}};
  }
  if (method == "Ping") return {{"ok", true}};
  return {{"ok", false}, {"error", fmt::format("unknown method \"{}\"", method)}};
}

HttpApi::HttpApi(net::io_context& ioc, Config config, NotificationsManager& notifications, Logger& log)
    : impl_(std::make_shared<Impl>(ioc, std::move(config), notifications, log)) {}

HttpApi::~HttpApi() { Close(); }

Result<uint16_t> HttpApi::Listen(const std::string& host, uint16_t port) {
  error_code ec;
  const auto address = net::ip::make_address(host, ec);
  if (ec) return Error{fmt::format("listen on {}:{}: \"{}\" is not an IP address", host, port, host)};
  const tcp::endpoint endpoint(address, port);
  auto& a = impl_->acceptor;
  auto fail = [&](std::string_view what) {
    return Error{fmt::format("listen on {}:{}: {}: {}", host, port, what, ec.message())};
  };
  a.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  a.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("setsockopt");
  a.bind(endpoint, ec);
  if (ec) return fail("bind");
  a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  return a.local_endpoint().port();
}

void HttpApi::SetAiGatewayHandler(AiGatewayHandler handler) { impl_->gateway = std::move(handler); }

void HttpApi::SetBuildInfo(nlohmann::json buildinfo) { impl_->buildinfo = std::move(buildinfo); }

void HttpApi::StartAccepting() {
  impl_->started = true;
  net::co_spawn(impl_->ioc, impl_->AcceptLoop(), net::detached);
}

Result<rpc::Socket> HttpApi::DialInMemoryRpc() {
  if (impl_->closed) return Error{"the API is closed"};
  auto server_end = std::make_shared<rpc::Socket>(impl_->ioc);
  rpc::Socket client_end(impl_->ioc);
  error_code ec;
  net::local::connect_pair(*server_end, client_end, ec);
  if (ec) return Error{fmt::format("in-memory RPC socketpair: {}", ec.message())};
  std::string name = fmt::format("ai-gateway-rpc#{}", ++impl_->rpc_sessions);
  // Held from the moment the session exists, as the original's wait group Add(1) before serving.
  WaitGroupSlot slot(impl_->websockets, name);
  net::co_spawn(impl_->ioc, impl_->ServeRpc(std::move(server_end), std::move(slot), std::move(name)), net::detached);
  return client_end;
}

std::vector<std::string> HttpApi::Drain(TimePoint deadline) {
  RunOnIo(impl_->ioc, [impl = impl_.get()] {
    impl->StopAccepting();
    for (auto& [id, c] : impl->connections)
      if (!c->in_request) impl->CloseConnection(*c);
  });
  return impl_->requests.WaitUntil(deadline);
}

size_t HttpApi::CancelRequests() {
  return RunOnIo(impl_->ioc, [impl = impl_.get()] { return impl->CancelConnections(); });
}

size_t HttpApi::CloseWebSockets() {
  return RunOnIo(impl_->ioc, [impl = impl_.get()] { return impl->CloseSessions(); });
}

WaitGroup& HttpApi::websocket_wait_group() { return impl_->websockets; }

void HttpApi::Close() {
  if (impl_->closed.exchange(true)) return;
  if (!impl_->started) {
    impl_->StopAccepting();  // nothing runs on the io thread yet (it may never have run)
    return;
  }
  RunOnIo(impl_->ioc, [impl = impl_.get()] {
    impl->StopAccepting();
    impl->CancelConnections();
    impl->CloseSessions();
  });
}

std::string HttpApi::DumpState() const {
  std::string out = fmt::format("api: connections={} websockets={} draining={} closed={}\n",
                                impl_->live_connections.load(), impl_->live_sessions.load(), impl_->draining.load(),
                                impl_->closed.load());
  const auto now = WaitGroup::Clock::now();
  auto dump = [&](std::string_view what, const WaitGroup& g) {
    const auto held = g.Held();
    out += fmt::format("{}: {} held\n", what, held.size());
    for (const auto& h : held) out += fmt::format("  {} (held {})\n", h.name, FormatDuration(now - h.since));
  };
  dump("websocket wait group", impl_->websockets);
  dump("http requests in flight", impl_->requests);
  return out;
}

}  // namespace coder::server
