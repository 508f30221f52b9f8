#include "server/http_api.h"

#include <fmt/format.h>
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
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <malloc.h>

#include <atomic>
#include <deque>
#include <map>
#include <variant>

#include "common/duration.h"
#include "common/json_dump.h"
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
// Records are bounded by bytes as well: 1000 of the largest frame would be 1 GiB.
constexpr size_t kMaxInterceptionBytesKept = 4 << 20;
constexpr size_t kReadChunk = 16 << 10;
// A chunk's size line (with its extensions) and the trailer must each arrive whole before Beast parses
// them, and Beast 1.81 bounds neither: without a cap on the read buffer, an endless extension or
// trailer is buffered whole (1 GiB sent, 1 GiB held). Extensions are bounded tighter still.
constexpr size_t kMaxChunkExtensionBytes = 4 << 10;
// After an error answer the rest of the request is read and dropped for a while before closing, so the
// client (maybe still sending a body) reads the answer instead of a reset that discards it.
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr size_t kLingerMaxBytes = 8 << 20;
// How long a connection of the reserve (taken past max_connections) may take to send its one request.
constexpr auto kReserveTimeout = std::chrono::seconds(2);
// Accepting pauses this long when no descriptor is left (EMFILE) or the reserve is full, unless a
// connection ends first: never a busy loop on the same error.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);
// Once this many connections (and at least half of those open) have ended since the last trim, the
// memory they freed is given back.
constexpr size_t kTrimAfterPeak = 1000;
// Connections taken from the listen backlog when the drain starts; more than any backlog holds.
constexpr int kMaxBacklogAdopted = 65536;

struct HttpConnection {
  /// kIdle: waiting for a request's first byte; kReading: a request has begun to arrive; kHandling:
  /// routing and answering it; kClosing: answered with an error, dropping what else comes.
  enum class Phase { kIdle, kReading, kHandling, kClosing };
  HttpConnection(tcp::socket s, uint64_t id_) : stream(std::move(s)), id(id_) {}
  bool in_request() const { return phase == Phase::kReading || phase == Phase::kHandling; }
  beast::tcp_stream stream;
  uint64_t id;
  std::string remote;
  Phase phase = Phase::kIdle;
  bool reserve = false;  // taken past max_connections: one request, /healthz only
  net::cancellation_signal cancel;
};

size_t Available(beast::tcp_stream& stream) {
  error_code ec;
  const size_t n = stream.socket().available(ec);
  return ec ? 0 : n;
}

std::string RemoteOf(const tcp::socket& s) {
  error_code ec;
  const auto ep = s.remote_endpoint(ec);
  return ec ? std::string("unknown") : fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

// Parse failures that are the client's fault, as opposed to a connection that simply ended.
/// The reply with the call's id echoed, so the client matches it to its call.
nlohmann::json WithCallId(const nlohmann::json& call, nlohmann::json reply) {
  if (call.is_object() && call.contains("id")) reply["id"] = call["id"];
  return reply;
}

bool IsMalformedRequest(const error_code& ec) {
  if (ec.category() != http::make_error_code(http::error::bad_method).category()) return false;
  return ec != http::error::end_of_stream && ec != http::error::partial_message && ec != http::error::need_more;
}

/// The answer to a request whose read failed with `ec`: a 4xx naming the limit or the fault, or nullopt
/// when the peer left or the read timed out (there is nobody to answer then).
std::optional<ApiResponse> ReplyToABadRequest(const error_code& ec, const HttpApi::Config& config) {
  if (ec == http::error::header_limit)
    return ApiResponse::Error(431, fmt::format("request headers are larger than {} bytes", config.max_header_bytes));
  if (ec == http::error::bad_chunk_extension)
    return ApiResponse::Error(400, fmt::format("malformed HTTP request: a chunk extension is longer than {} "
                                               "bytes or malformed",
                                               kMaxChunkExtensionBytes));
  if (ec == http::error::bad_transfer_encoding)
    return ApiResponse::Error(400,
                              "malformed HTTP request: Transfer-Encoding must end with chunked, come "
                              "without Content-Length, and only from HTTP/1.1 clients");
  if (ec == http::error::buffer_overflow)
    return ApiResponse::Error(
        431, fmt::format("a chunk line or the trailer is larger than {} bytes", config.max_header_bytes));
  if (ec == http::error::body_limit)
    return ApiResponse::Error(413, fmt::format("request body is larger than {} bytes", config.max_body_bytes));
  if (IsMalformedRequest(ec)) return ApiResponse::Error(400, fmt::format("malformed HTTP request: {}", ec.message()));
  return std::nullopt;
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
  net::steady_timer accept_backoff{ioc};  // cancelled when a connection ends
  size_t peak_since_trim = 0;
  bool accept_failing = false;
  AiGatewayHandler gateway;
  WaitGroup websockets;
  WaitGroup requests;

  // Touched only on the io thread.
  std::map<uint64_t, std::shared_ptr<HttpConnection>> connections;
  // Connections taken while draining hold a request slot from then until their Serve holds its own, so
  // the drain cannot end before their coroutine first runs. Declared after `requests`: destroyed first.
  std::map<uint64_t, WaitGroupSlot> adopted;
  std::map<uint64_t, std::weak_ptr<WatchSession>> sessions;
  std::deque<std::pair<nlohmann::json, size_t>> interceptions;  // each with its serialised size
  size_t interception_bytes = 0;
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
  void Adopt(tcp::socket socket, bool reserve = false);
  bool reserve_logged = false;
  net::awaitable<void> Serve(std::shared_ptr<HttpConnection> conn);
  net::awaitable<void> Linger(HttpConnection& conn);
  /// Reads one request into `parser` under the connection's current deadline: its header (counted
  /// against max_header_bytes), a 100 Continue when asked for, then its body.
  net::awaitable<error_code> ReadRequest(HttpConnection& conn, beast::flat_buffer& buffer,
                                         http::request_parser<http::string_body>& parser);
  net::awaitable<ApiResponse> RouteOrFail(const ApiRequest& r, bool authorized);
  net::awaitable<bool> Write(HttpConnection& conn, const ApiResponse& r, unsigned version, bool keep_alive);
  net::awaitable<ApiResponse> Route(const ApiRequest& r, bool authorized);
  net::awaitable<ApiResponse> PostNotification(const ApiRequest& r);
  /// Waits, without holding the io thread, for the manager to make the notification durable.
  net::awaitable<NotificationsManager::Outcome> Enqueue(const nlohmann::json& body);
  net::awaitable<void> ServeRpc(std::shared_ptr<rpc::Socket> socket, WaitGroupSlot slot, std::string name);
  nlohmann::json HandleRpc(const nlohmann::json& message);

  // Braced field lists live in these plain functions, never in a coroutine body: g++ 12 destroys an
  // initializer_list temporary inside a coroutine twice.
  void LogAcceptFailure(const error_code& ec) {
    log.Warn("accept failed; backing off", {{"error", ec.message()}, {"connections", Count()}});
  }
  void LogAtLimit() {
    log.Warn("at the connection limit; serving only /healthz on the reserve",
             {{"max_connections", config.max_connections}, {"connections", Count()}});
  }
  static ApiResponse ReserveRefusal() {
    return ApiResponse::Error(503,
                              "the server is at its connection limit; only /healthz is served until "
                              "connections end");
  }
  size_t Count() const { return live_connections + live_sessions; }
  /// Closes the oldest HTTP connection that waits for a request that has not begun to arrive.
  bool EvictIdleConnection() {
    for (auto& [id, c] : connections) {
      if (c->phase != HttpConnection::Phase::kIdle || c->reserve || adopted.contains(id)) continue;
      if (Available(c->stream) != 0) continue;
      // Until its coroutine runs and it leaves `connections`, it must not be taken for idle again.
      c->phase = HttpConnection::Phase::kClosing;
      CloseConnection(*c);
      return true;
    }
    return false;
  }
  /// A connection or session ended: accepting may resume, and after a burst memory is given back.
  void ConnectionEnded();
  void LogRpcClosed(const std::string& name) { log.Info("AI gateway RPC session closed", {{"session", name}}); }
  ApiResponse InterceptionsResponse() const {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [record, bytes] : interceptions) list.push_back(record);
    return ApiResponse::Json(200, {{"interceptions", list}, {"total", interceptions_recorded}});
  }
  /// A slot in the request wait group for a connection whose request has not been read yet.
  WaitGroupSlot PendingRequestSlot(const HttpConnection& c) {
    return WaitGroupSlot(requests, fmt::format("a request from {}", c.remote));
  }
  void LogHandlerFailure(const std::string& what) {
    log.Error("request handler failed; answered 500", {{"error", what}});
  }
  void CloseConnection(HttpConnection& c) {
    error_code ec;
    c.stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    c.stream.close();
  }

  // The shutdown phases' work on the io thread, shared by the phases and by Close().
  /// Closes the listener. With `adopt_backlog`, first takes the connections the kernel has already
  /// completed: closing the listener would reset them, and their requests were sent before the stop.
  void StopAccepting(bool adopt_backlog) {
    draining = true;
    accept_backoff.cancel();
    error_code ec;
    if (adopt_backlog && acceptor.is_open()) {
      acceptor.non_blocking(true, ec);
      for (int i = 0; i < kMaxBacklogAdopted && !ec; ++i) {
        tcp::socket socket(ioc);
        acceptor.accept(socket, ec);
        if (!ec) Adopt(std::move(socket));
      }
    }
    acceptor.close(ec);
  }
  /// Ends the connections that wait for a request that has not begun to arrive. Only their pending read
  /// is cancelled, and only when nothing has arrived: a read that has already completed, or bytes already
  /// in the socket, are still served. Each holds a request slot until its coroutine next runs, so the
  /// drain cannot end between such a read completing and its request being counted.
  void CloseIdleConnections() {
    for (auto& [id, c] : connections) {
      if (c->in_request()) continue;
      if (!adopted.contains(id)) adopted.emplace(id, PendingRequestSlot(*c));
      if (Available(c->stream) == 0) c->stream.cancel();
    }
  }
  /// Cancels every connection's request context and closes it; returns how many were mid-request.
  size_t CancelConnections() {
    size_t in_flight = 0;
    adopted.clear();
    for (auto& [id, c] : connections) {
      if (c->in_request()) ++in_flight;
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
    // Past the reserve nothing more is taken: new connections wait in the backlog until one ends.
    while (Count() >= config.max_connections + kReserveConnections && acceptor.is_open()) {
      accept_backoff.expires_after(kAcceptBackoff);
      co_await accept_backoff.async_wait(net::as_tuple(net::use_awaitable));
    }
    auto [ec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
    if (ec) {
      if (!acceptor.is_open() || ec == net::error::operation_aborted) co_return;
      if (!accept_failing) LogAcceptFailure(ec);  // once per streak, not every back-off
      accept_failing = true;
      // Out of descriptors and the like: free one if an idle connection holds it, and pause instead of
      // spinning on the same error.
      EvictIdleConnection();
      accept_backoff.expires_after(kAcceptBackoff);
      co_await accept_backoff.async_wait(net::as_tuple(net::use_awaitable));
      continue;
    }
    accept_failing = false;
    bool reserve = false;
    if (Count() >= config.max_connections && !EvictIdleConnection()) {
      if (!reserve_logged) LogAtLimit();
      reserve_logged = true;
      reserve = true;
    }
    Adopt(std::move(socket), reserve);
  }
}

void HttpApi::Impl::ConnectionEnded() {
  accept_backoff.cancel();
  const size_t count = Count();
  if (count < config.max_connections) reserve_logged = false;
  peak_since_trim = std::max(peak_since_trim, count + 1);
  // glibc keeps the heap of a burst (connection buffers, coroutine frames) mapped; give it back once
  // most of the burst has gone.
  if (peak_since_trim >= count + kTrimAfterPeak && count <= peak_since_trim / 2) {
    ::malloc_trim(0);
    peak_since_trim = count;
  }
}

void HttpApi::Impl::Adopt(tcp::socket socket, bool reserve) {
  // While draining, only a connection whose request has already arrived is served; the rest close here.
  if (draining && socket.available() == 0) return;
  auto conn = std::make_shared<HttpConnection>(std::move(socket), next_id++);
  conn->reserve = reserve;
  conn->remote = RemoteOf(conn->stream.socket());
  connections.emplace(conn->id, conn);
  ++live_connections;
  if (draining) adopted.emplace(conn->id, PendingRequestSlot(*conn));
  net::co_spawn(ioc, Serve(conn),
                net::bind_cancellation_slot(conn->cancel.slot(), [self = shared_from_this(), conn](std::exception_ptr) {
                  self->adopted.erase(conn->id);
                  if (self->connections.erase(conn->id) > 0) --self->live_connections;
                  self->ConnectionEnded();
                }));
}

net::awaitable<bool> HttpApi::Impl::Write(HttpConnection& conn, const ApiResponse& r, unsigned version,
                                          bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "coder");
  res.set(http::field::content_type, r.content_type);
  res.keep_alive(keep_alive);
  res.body() = r.body;
  res.prepare_payload();
  conn.stream.expires_after(config.read_timeout);
  auto [ec, n] = co_await http::async_write(conn.stream, res, net::as_tuple(net::use_awaitable));
  co_return !ec;
}

net::awaitable<void> HttpApi::Impl::Serve(std::shared_ptr<HttpConnection> conn) {
  // One coroutine (100 lines) on purpose: it is the connection's state machine (idle, reading, handling,
  // upgraded), and the request's wait-group slot and the read buffer must pass from one state to the
  // next without a frame boundary where g++ 12's coroutine lowering has destroyed temporaries twice.
  auto self = shared_from_this();
  // Everything a client can make this connection hold is in this buffer (Beast parses bodies out of it
  // as they come): a header, a chunk line or a trailer larger than the limit fails the read.
  beast::flat_buffer buffer(config.max_header_bytes + kReadChunk);
  for (;;) {
    // Between requests: wait for the next one's first byte under the idle timeout. A draining server
    // answers only what was sent before the drain.
    conn->phase = HttpConnection::Phase::kIdle;
    WaitGroupSlot in_flight;
    if (buffer.size() == 0) {
      if (draining) {
        if (Available(conn->stream) == 0) break;
        in_flight = PendingRequestSlot(*conn);
      }
      conn->stream.expires_after(conn->reserve ? kReserveTimeout : config.idle_timeout);
      auto [ec, n] =
          co_await conn->stream.async_read_some(buffer.prepare(kReadChunk), net::as_tuple(net::use_awaitable));
      if (ec) break;  // the idle timeout, the peer left, or the drain ended an idle connection
      buffer.commit(n);
    }
    // From its first byte a request counts as in flight: the drain waits for it.
    conn->phase = HttpConnection::Phase::kReading;
    if (!in_flight.held()) in_flight = PendingRequestSlot(*conn);
    adopted.erase(conn->id);
    // Beast keeps a reference to the callback: it lives as long as the parser.
    auto bound_extensions = [](std::uint64_t, std::string_view extensions, error_code& chunk_ec) {
      if (extensions.size() > kMaxChunkExtensionBytes) chunk_ec = http::error::bad_chunk_extension;
    };
    http::request_parser<http::string_body> parser;
    parser.on_chunk_header(bound_extensions);
    parser.header_limit(static_cast<uint32_t>(config.max_header_bytes));
    parser.body_limit(config.max_body_bytes);
    // One deadline for the whole request, so a client dribbling bytes cannot keep resetting it.
    conn->stream.expires_after(conn->reserve ? kReserveTimeout : config.read_timeout);
    error_code ec = co_await ReadRequest(*conn, buffer, parser);
    if (ec) {
      const std::optional<ApiResponse> reply = ReplyToABadRequest(ec, config);
      // Otherwise the peer left mid-request or the read timed out (the stream is closed then): no answer.
      if (reply) {
        conn->phase = HttpConnection::Phase::kHandling;
        const bool written = co_await Write(*conn, *reply, 11, false);
        in_flight.Release();
        if (written) co_await Linger(*conn);
      }
      break;
    }
    auto& req = parser.get();
    const std::string target(req.target());
    const std::string path = target.substr(0, target.find('?'));

    if (beast::websocket::is_upgrade(req)) {
      ApiResponse refusal;
      if (conn->reserve) refusal = ApiResponse::Error(503, "the server is at its connection limit");
      else if (path != kWatchPath) refusal = ApiResponse::Error(404, "no WebSocket endpoint at this path");
      else if (!Authorized(req)) refusal = ApiResponse::Error(401, "missing or invalid Coder-Session-Token header");
      else if (draining) refusal = ApiResponse::Error(503, "the server is shutting down");
      if (refusal.status != 200) {
        conn->phase = HttpConnection::Phase::kHandling;
        co_await Write(*conn, refusal, req.version(), false);
        break;
      }
      // From here the connection is a WebSocket: the HTTP drain no longer owns it.
      in_flight.Release();
      if (connections.erase(conn->id) > 0) --live_connections;
      auto session =
          std::make_shared<WatchSession>(std::move(conn->stream), notifications, websockets, self,
                                         fmt::format("websocket {}#{} from {}", path, conn->id, conn->remote), log);
      sessions.emplace(conn->id, session);
      ++live_sessions;
      co_await session->Run(parser.release());
      sessions.erase(conn->id);
      --live_sessions;
      ConnectionEnded();
      co_return;
    }

    // The new slot is taken before the old one goes, so the drain never sees this request at zero.
    in_flight =
        WaitGroupSlot(requests, fmt::format("{} {} from {}", std::string(req.method_string()), target, conn->remote));
    conn->phase = HttpConnection::Phase::kHandling;
    ApiRequest api_req{std::string(req.method_string()),
                       target,
                       path,
                       std::string(req[http::field::content_type]),
                       std::move(req.body()),
                       conn->remote};
    // Not a conditional expression around co_await: g++ 12 destroys its temporaries twice.
    ApiResponse res;
    if (conn->reserve && path != "/healthz") res = ReserveRefusal();
    else res = co_await RouteOrFail(api_req, Authorized(req));
    const bool keep_alive = req.keep_alive() && !draining && !conn->reserve;
    const bool written = co_await Write(*conn, res, req.version(), keep_alive);
    in_flight.Release();
    if (!written || !keep_alive) break;
  }
  adopted.erase(conn->id);
  error_code ignored;
  conn->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

net::awaitable<error_code> HttpApi::Impl::ReadRequest(HttpConnection& conn, beast::flat_buffer& buffer,
                                                      http::request_parser<http::string_body>& parser) {
  // Beast 1.81 holds only the unparsed rest of a header to header_limit: a header that arrives over
  // several reads can pass it, so the header is read a read at a time and its total counted here.
  parser.eager(false);
  size_t header_bytes = 0;
  while (!parser.is_header_done()) {
    auto [ec, used] = co_await http::async_read_some(conn.stream, buffer, parser, net::as_tuple(net::use_awaitable));
    header_bytes += used;
    // Beast keeps reading while it parses nothing, so the peer's EOF can meet more than the limit received
    // and not yet parsed: that header was too large all the same (found by fuzz/http_request).
    if (ec && (ec == http::error::buffer_overflow || header_bytes + buffer.size() > config.max_header_bytes))
      co_return http::error::header_limit;
    if (ec) co_return ec;
    if (header_bytes > config.max_header_bytes) co_return http::error::header_limit;
  }
  // RFC 9112 6.1: a request whose final transfer coding is not chunked has no knowable length; Beast
  // would read it as bodiless and parse the rest as the next request (a smuggled one). HTTP/1.0 has no
  // Transfer-Encoding at all.
  if (parser.get().count(http::field::transfer_encoding) > 0 && (!parser.chunked() || parser.get().version() < 11))
    co_return http::error::bad_transfer_encoding;
  if (parser.is_done()) co_return error_code();
  // A client that asked may wait for this before it sends the body (curl does, for large bodies).
  if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    auto [ec, n] = co_await net::async_write(conn.stream, net::buffer(kContinue), net::as_tuple(net::use_awaitable));
    if (ec) co_return ec;
  }
  auto [ec, n] = co_await http::async_read(conn.stream, buffer, parser, net::as_tuple(net::use_awaitable));
  co_return ec;
}

net::awaitable<void> HttpApi::Impl::Linger(HttpConnection& conn) {
  conn.phase = HttpConnection::Phase::kClosing;
  error_code ignored;
  conn.stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  conn.stream.expires_after(kLingerTimeout);
  std::vector<char> sink(kReadChunk);
  for (size_t dropped = 0; dropped < kLingerMaxBytes;) {
    auto [ec, n] = co_await conn.stream.async_read_some(net::buffer(sink), net::as_tuple(net::use_awaitable));
    if (ec) break;  // the peer closed its side (it has the answer), the time is up, or the drain ended it
    dropped += n;
  }
}

net::awaitable<ApiResponse> HttpApi::Impl::RouteOrFail(const ApiRequest& r, bool authorized) {
  // A handler that throws answers 500 instead of dropping the connection without a word.
  std::string failure;
  try {
    co_return co_await Route(r, authorized);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  LogHandlerFailure(failure);
  co_return ApiResponse::Error(500, "internal error while handling the request");
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
    co_return co_await PostNotification(r);
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

namespace {

std::variant<nlohmann::json, ApiResponse> ParseNotificationBody(const ApiRequest& r) {
  try {
    return nlohmann::json::parse(r.body);
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 9: ..."; the bracketed
    // id means nothing to a client.
    std::string_view what = e.what();
    if (const auto end = what.find("] "); what.rfind("[json.exception", 0) == 0 && end != std::string_view::npos)
      what.remove_prefix(end + 2);
    return ApiResponse::Error(400, fmt::format("the body is not valid JSON: {}", what));
  }
}

ApiResponse NotificationResponse(const NotificationsManager::Outcome& result) {
  if (const auto* n = std::get_if<Notification>(&result)) return ApiResponse::Json(202, n->ToJson());
  const auto& rejection = std::get<NotificationsManager::Rejection>(result);
  switch (rejection.reason) {
    case NotificationsManager::RejectReason::kInvalid: return ApiResponse::Error(400, rejection.message);
    case NotificationsManager::RejectReason::kQueueFull: return ApiResponse::Error(429, rejection.message);
    case NotificationsManager::RejectReason::kClosed: return ApiResponse::Error(503, rejection.message);
    case NotificationsManager::RejectReason::kNoSpace: return ApiResponse::Error(507, rejection.message);
    case NotificationsManager::RejectReason::kStorageFailed: return ApiResponse::Error(500, rejection.message);
  }
  return ApiResponse::Error(500, "unexpected rejection");
}

}  // namespace

net::awaitable<NotificationsManager::Outcome> HttpApi::Impl::Enqueue(const nlohmann::json& body) {
  return net::async_initiate<const net::use_awaitable_t<>&, void(NotificationsManager::Outcome)>(
      // A pointer, not the value: async_initiate copies its arguments, and copying a deeply nested body
      // recurses once per level. The body lives in the awaiting frame until the outcome comes.
      [this](auto handler, const nlohmann::json* request) {
        // The outcome comes on the store's writer thread; the coroutine resumes on the io thread.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        notifications.EnqueueAsync(*request, [shared, ex = ioc.get_executor()](NotificationsManager::Outcome o) {
          net::post(ex, [shared, o = std::move(o)]() mutable { (*shared)(std::move(o)); });
        });
      },
      net::use_awaitable, &body);
}

net::awaitable<ApiResponse> HttpApi::Impl::PostNotification(const ApiRequest& r) {
  auto parsed = ParseNotificationBody(r);
  if (auto* refused = std::get_if<ApiResponse>(&parsed)) co_return std::move(*refused);
  const auto outcome = co_await Enqueue(std::get<nlohmann::json>(parsed));
  co_return NotificationResponse(outcome);
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
    const size_t bytes = DumpJson(record).size();
    interception_bytes += bytes;
    interceptions.emplace_back(std::move(record), bytes);
    while (interceptions.size() > kMaxInterceptionsKept || interception_bytes > kMaxInterceptionBytesKept) {
      interception_bytes -= interceptions.front().second;
      interceptions.pop_front();
    }
    return WithCallId(message, {{"ok", true}, {"seq", interceptions_recorded}});
  }
  if (method == "Ping") return WithCallId(message, {{"ok", true}});
  return WithCallId(message, {{"ok", false}, {"error", fmt::format("unknown method \"{}\"", method)}});
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
    impl->StopAccepting(/*adopt_backlog=*/true);
    impl->CloseIdleConnections();
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
    impl_->StopAccepting(/*adopt_backlog=*/false);  // nothing runs on the io thread yet (it may never have run)
    return;
  }
  RunOnIo(impl_->ioc, [impl = impl_.get()] {
    impl->StopAccepting(/*adopt_backlog=*/false);
    impl->CancelConnections();
    impl->CloseSessions();
  });
}

std::string HttpApi::DumpState() const {
  std::string out = fmt::format("api: connections={} websockets={} max_connections={} draining={} closed={}\n",
                                impl_->live_connections.load(), impl_->live_sessions.load(),
                                impl_->config.max_connections, impl_->draining.load(), impl_->closed.load());
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
