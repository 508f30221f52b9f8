#include "server/ai_gateway.h"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>

#include "common/json_dump.h"
#include "common/time_format.h"
#include "server/run_on_io.h"

namespace coder::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::string_view kPrefix = "/api/v2/aibridge/";
constexpr auto kInitialBackoff = std::chrono::milliseconds(10);
constexpr auto kMaxBackoff = std::chrono::seconds(2);
constexpr auto kRecordTimeout = std::chrono::seconds(2);
constexpr auto kUpstreamTimeout = std::chrono::seconds(60);
constexpr size_t kMaxUpstreamBody = 16 << 20;

// What an interception record keeps of a client's strings: the frame must fit rpc::kMaxFrameBytes
// whatever the client sent, and the API keeps up to 1000 records.
constexpr size_t kMaxRecordedModel = 256;
constexpr size_t kMaxRecordedPath = 1024;

struct PendingCall {
  explicit PendingCall(net::any_io_executor ex) : timer(std::move(ex)) {}
  uint64_t id = 0;
  nlohmann::json request;
  nlohmann::json reply;
  error_code ec;
  bool done = false;
  net::steady_timer timer;  // expires at the call's deadline; cancelled when the reply comes
};

struct UpstreamReply {
  unsigned status = 0;
  std::string content_type;
  std::string body;
  std::string error;  // non-empty when no reply came
};

constexpr int kMaxInterimResponses = 16;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// True when `path`, percent-decoded, has a "." or ".." segment (or a malformed %-escape): an upstream
/// that normalises would serve it outside the provider's root. Backslashes count as separators, as some
/// upstreams take them for slashes.
bool HasDotSegment(std::string_view path) {
  std::string decoded;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '%') {
      decoded.push_back(path[i]);
      continue;
    }
    if (i + 2 >= path.size() || HexValue(path[i + 1]) < 0 || HexValue(path[i + 2]) < 0) return true;
    decoded.push_back(static_cast<char>(HexValue(path[i + 1]) * 16 + HexValue(path[i + 2])));
    i += 2;
  }
  size_t start = 0;
  for (size_t i = 0; i <= decoded.size(); ++i) {
    if (i < decoded.size() && decoded[i] != '/' && decoded[i] != '\\') continue;
    const std::string_view segment = std::string_view(decoded).substr(start, i - start);
    if (segment == "." || segment == "..") return true;
    start = i + 1;
  }
  return false;
}

bool ValidProvider(std::string_view p) {
  if (p.empty() || p.size() > 64) return false;
  for (char c : p)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
  return true;
}

}  // namespace

struct AiGatewayDaemon::Impl : std::enable_shared_from_this<Impl> {
  Impl(net::io_context& ioc_, Dialer dialer_, std::optional<UpstreamUrl> upstream_, Logger& log_)
      : ioc(ioc_), dialer(std::move(dialer_)), upstream(std::move(upstream_)), log(log_), backoff_timer(ioc_) {}

  net::io_context& ioc;
  Dialer dialer;
  const std::optional<UpstreamUrl> upstream;
  Logger& log;

  std::atomic<bool> started{false};
  std::atomic<bool> shutting_down{false};
  std::atomic<bool> closed{false};
  std::atomic<uint64_t> sessions_opened{0};
  std::atomic<uint64_t> requests_proxied{0};
  std::atomic<size_t> in_flight{0};
  std::mutex mu;
  std::condition_variable connected_cv;
  bool connected = false;  // guarded by mu

  // Touched only on the io thread.
  net::steady_timer backoff_timer;
  std::shared_ptr<rpc::Socket> session;
  std::deque<std::shared_ptr<PendingCall>> to_write;
  // By call id: the API echoes it, so a reply never answers the wrong call, whatever failed before.
  std::map<uint64_t, std::shared_ptr<PendingCall>> awaiting_reply;
  uint64_t next_call_id = 0;
  bool writing = false;
  std::set<beast::tcp_stream*> upstream_streams;

  void SetConnected(bool value) {
    {
      std::lock_guard lock(mu);
      connected = value;
    }
    connected_cv.notify_all();
  }

  static void Complete(const std::shared_ptr<PendingCall>& call, error_code ec, nlohmann::json reply) {
    if (call->done) return;
    call->done = true;
    call->ec = ec;
    call->reply = std::move(reply);
    call->timer.cancel();
  }

  void FailPending(error_code ec) {
    for (auto& c : to_write) Complete(c, ec, nullptr);
    for (auto& [id, c] : awaiting_reply) Complete(c, ec, nullptr);
    to_write.clear();
    awaiting_reply.clear();
  }

  net::awaitable<void> ConnectLoop() {
    auto self = shared_from_this();
    auto backoff = std::chrono::duration_cast<std::chrono::milliseconds>(kInitialBackoff);
    while (!closed) {
      auto dialed = dialer();
      if (!dialed) {
        LogDialFailure(dialed.error().message, backoff);
        backoff_timer.expires_after(backoff);
        co_await backoff_timer.async_wait(net::as_tuple(net::use_awaitable));
        backoff = std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxBackoff));
        continue;
      }
      backoff = std::chrono::duration_cast<std::chrono::milliseconds>(kInitialBackoff);
      session = std::make_shared<rpc::Socket>(std::move(*dialed));
      ++sessions_opened;
      SetConnected(true);
      LogConnected();
      co_await ReadReplies(session);
      SetConnected(false);
      FailPending(net::error::connection_reset);
      session.reset();
      if (!closed) log.Warn("AI gateway RPC session lost; reconnecting");
    }
  }

  net::awaitable<void> ReadReplies(std::shared_ptr<rpc::Socket> s) {
    for (;;) {
      auto [ec, message] = co_await rpc::ReadFrame(*s);
      if (ec) co_return;
      // A reply to nothing (its call timed out, or the API misbehaved) is dropped.
      if (!message.is_object() || !message.contains("id") || !message["id"].is_number_unsigned()) continue;
      const auto it = awaiting_reply.find(message["id"].get<uint64_t>());
      if (it == awaiting_reply.end()) continue;
      auto call = std::move(it->second);
      awaiting_reply.erase(it);
      Complete(call, {}, std::move(message));
    }
  }

  net::awaitable<void> WriteCalls() {
    auto self = shared_from_this();
    while (!to_write.empty() && session) {
      auto s = session;
      auto call = std::move(to_write.front());
      to_write.pop_front();
      if (call->done) continue;  // timed out while queued
      // In the map before the write: the reply may be read before this coroutine resumes.
      awaiting_reply.emplace(call->id, call);
      if (auto ec = co_await rpc::WriteFrame(*s, call->request)) {
        awaiting_reply.erase(call->id);
        Complete(call, ec, nullptr);
        // A refused frame (too large) was never sent and the session is intact; any other failure
        // ended it, and the reader fails the rest.
        if (ec != boost::system::errc::message_size) break;
      }
    }
    writing = false;
  }

  /// Sends one request over the session and waits for its reply or the timeout.
  net::awaitable<std::pair<error_code, nlohmann::json>> Call(nlohmann::json request, Duration timeout) {
    if (!session) co_return std::pair{make_error_code(net::error::not_connected), nlohmann::json()};
    auto call = std::make_shared<PendingCall>(ioc.get_executor());
    call->id = ++next_call_id;
    call->request = std::move(request);
    call->request["id"] = call->id;
    call->timer.expires_after(timeout);
    to_write.push_back(call);
    if (!writing) {
      writing = true;
      net::co_spawn(ioc, WriteCalls(), net::detached);
    }
    co_await call->timer.async_wait(net::as_tuple(net::use_awaitable));
    if (!call->done) {
      call->done = true;
      awaiting_reply.erase(call->id);  // a late reply is dropped
      co_return std::pair{make_error_code(net::error::timed_out), nlohmann::json()};
    }
    co_return std::pair{call->ec, std::move(call->reply)};
  }

  net::awaitable<UpstreamReply> Forward(const std::string& method, const std::string& target, const std::string& body,
                                        const std::string& content_type) {
    UpstreamReply out;
    tcp::resolver resolver(ioc);
    auto [rec, endpoints] = co_await resolver.async_resolve(upstream->host, std::to_string(upstream->port),
                                                            net::as_tuple(net::use_awaitable));
    if (rec) co_return UpstreamReply{0, "", "", fmt::format("resolving {}: {}", upstream->host, rec.message())};
    beast::tcp_stream stream(ioc);
    upstream_streams.insert(&stream);
    struct Unregister {
      std::set<beast::tcp_stream*>& set;
      beast::tcp_stream* s;
      ~Unregister() { set.erase(s); }
    } unregister{upstream_streams, &stream};
    stream.expires_after(kUpstreamTimeout);
    auto [cec, ep] = co_await stream.async_connect(endpoints, net::as_tuple(net::use_awaitable));
    if (cec)
      co_return UpstreamReply{0, "", "",
                              fmt::format("connecting to {}:{}: {}", upstream->host, upstream->port, cec.message())};
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, fmt::format("{}:{}", upstream->host, upstream->port));
    req.set(http::field::user_agent, "coder-ai-gateway");
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    req.body() = body;
    req.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, req, net::as_tuple(net::use_awaitable));
    if (wec) co_return UpstreamReply{0, "", "", fmt::format("sending to upstream: {}", wec.message())};
    beast::flat_buffer buffer;
    // 1xx answers (100 Continue, 103 Early Hints) are interim: the final answer follows them (RFC 9110
    // 15.2), and only it is relayed.
    std::optional<http::response_parser<http::string_body>> parser;
    for (int interim = 0;; ++interim) {
      if (interim > kMaxInterimResponses)
        co_return UpstreamReply{0, "", "", fmt::format("more than {} interim (1xx) replies", kMaxInterimResponses)};
      parser.emplace();
      parser->body_limit(kMaxUpstreamBody);
      auto [rec2, rn] = co_await http::async_read(stream, buffer, *parser, net::as_tuple(net::use_awaitable));
      if (rec2) co_return UpstreamReply{0, "", "", fmt::format("reading upstream reply: {}", rec2.message())};
      const unsigned status = parser->get().result_int();
      if (status == 101) co_return UpstreamReply{0, "", "", "the upstream switched protocols (101)"};
      if (status >= 200) break;
    }
    auto& res = parser->get();
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return UpstreamReply{res.result_int(), std::string(res[http::field::content_type]), std::move(res.body()), ""};
  }

  // Braced field lists live in these plain functions, never in a coroutine body: g++ 12 destroys an
  // initializer_list temporary inside a coroutine twice.
  void LogDialFailure(const std::string& error, Duration backoff) {
    log.Warn("AI gateway daemon could not connect to the API; retrying",
             {{"error", error}, {"retry_in", FormatDuration(backoff)}});
  }
  void LogConnected() { log.Debug("AI gateway daemon connected to the API", {{"session", sessions_opened.load()}}); }
  void LogRecordFailure(const std::string& why) {
    log.Warn("AI gateway could not record an interception", {{"error", why}});
  }
  static nlohmann::json InterceptionCall(const ApiRequest& request, const std::string& provider,
                                         const std::string& upstream_path, const ApiResponse& response,
                                         const std::string& error, std::chrono::steady_clock::time_point started,
                                         std::chrono::system_clock::time_point started_wall) {
    nlohmann::json record{
        {"provider", provider},
        {"method", request.method},
        {"path", upstream_path.substr(0, kMaxRecordedPath)},
        {"status", response.status},
        {"request_bytes", request.body.size()},
        {"response_bytes", response.body.size()},
        {"duration_ms", ToSeconds(std::chrono::steady_clock::now() - started) * 1e3},
        {"started_at", Rfc3339Utc(started_wall)},
    };
    if (!error.empty()) record["error"] = error;
    const auto body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_object() && body.contains("model") && body["model"].is_string()) {
      const auto& model = body["model"].get_ref<const std::string&>();
      record["model"] = model.substr(0, kMaxRecordedModel);
      if (model.size() > kMaxRecordedModel) record["model_bytes"] = model.size();
    }
    return {{"method", "RecordInterception"}, {"params", std::move(record)}};
  }

  /// Records one interception through the RPC session; returns why it failed, or "".
  net::awaitable<std::string> Record(const ApiRequest& request, const std::string& provider,
                                     const std::string& upstream_path, const ApiResponse& response,
                                     const std::string& error, std::chrono::steady_clock::time_point started,
                                     std::chrono::system_clock::time_point started_wall) {
    auto [ec, reply] = co_await Call(
        InterceptionCall(request, provider, upstream_path, response, error, started, started_wall), kRecordTimeout);
    if (ec) co_return ec.message();
    if (!reply.is_object() || !reply.value("ok", false)) co_return DumpJson(reply);
    co_return std::string();
  }

  net::awaitable<ApiResponse> Handle(ApiRequest request) {
    auto self = shared_from_this();
    if (shutting_down) co_return ApiResponse::Error(503, "AI Gateway is shutting down");
    const std::string rest = request.path.substr(kPrefix.size());
    const auto slash = rest.find('/');
    const std::string provider = rest.substr(0, slash);
    if (!ValidProvider(provider))
      co_return ApiResponse::Error(404, "want /api/v2/aibridge/<provider>/<path>, provider in [a-z0-9_-]");
    if (!upstream)
      co_return ApiResponse::Error(503, "AI Gateway has no upstream configured (set --ai-gateway-upstream-url)");
    const std::string upstream_path = slash == std::string::npos ? "/" : rest.substr(slash);
    if (HasDotSegment(upstream_path))
      co_return ApiResponse::Error(400,
                                   "the path has a \".\" or \"..\" segment (also percent-encoded); "
                                   "the AI Gateway forwards only paths inside the provider's root");
    const auto query_at = request.target.find('?');
    const std::string query = query_at == std::string::npos ? "" : request.target.substr(query_at);

    ++in_flight;
    const auto started = std::chrono::steady_clock::now();
    const auto started_wall = std::chrono::system_clock::now();
    UpstreamReply up = co_await Forward(request.method, upstream->base_path + upstream_path + query, request.body,
                                        request.content_type);
    --in_flight;
    ++requests_proxied;
    ApiResponse response = up.error.empty()
                               ? ApiResponse{up.status, up.content_type, std::move(up.body)}
                               : ApiResponse::Error(502, "AI Gateway upstream request failed: " + up.error);
    if (auto failure = co_await Record(request, provider, upstream_path, response, up.error, started, started_wall);
        !failure.empty())
      LogRecordFailure(failure);
    co_return response;
  }
};

AiGatewayDaemon::AiGatewayDaemon(net::io_context& ioc, Dialer dialer, std::optional<UpstreamUrl> upstream, Logger& log)
    : impl_(std::make_shared<Impl>(ioc, std::move(dialer), std::move(upstream), log)) {}

AiGatewayDaemon::~AiGatewayDaemon() { Close(); }

void AiGatewayDaemon::Start() {
  if (impl_->closed || impl_->started.exchange(true)) return;
  net::co_spawn(impl_->ioc, impl_->ConnectLoop(), net::detached);
}

bool AiGatewayDaemon::WaitConnected(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(impl_->mu);
  return impl_->connected_cv.wait_until(lock, deadline, [&] { return impl_->connected; });
}

void AiGatewayDaemon::BeginShutdown() { impl_->shutting_down = true; }

void AiGatewayDaemon::Close() {
  impl_->shutting_down = true;
  if (impl_->closed.exchange(true)) return;
  if (!impl_->started) return;  // no session, no timer, nothing on the io thread to stop
  RunOnIo(impl_->ioc, [impl = impl_.get()] {
    impl->backoff_timer.cancel();
    error_code ec;
    if (impl->session) {
      // Ending the client session is what lets the API release the wait-group slot it holds for it.
      impl->session->shutdown(rpc::Socket::shutdown_both, ec);
      impl->session->close(ec);
    }
    for (auto* s : impl->upstream_streams) s->close();
    impl->FailPending(net::error::operation_aborted);
  });
}

net::awaitable<ApiResponse> AiGatewayDaemon::Handle(ApiRequest request) { return impl_->Handle(std::move(request)); }

std::string AiGatewayDaemon::DumpState() const {
  bool connected = false;
  {
    std::lock_guard lock(impl_->mu);
    connected = impl_->connected;
  }
  return fmt::format(
      "ai gateway: connected={} shutting_down={} closed={} sessions_opened={} requests_proxied={} in_flight={}\n",
      connected, impl_->shutting_down.load(), impl_->closed.load(), impl_->sessions_opened.load(),
      impl_->requests_proxied.load(), impl_->in_flight.load());
}

}  // namespace coder::server
