#include "harness/traffic/traffic_session.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "common/duration.h"
#include "harness/process/proc_net.h"
#include "harness/traffic/counting_body.h"
#include "harness/traffic/eof_rule.h"
#include "harness/traffic/latency_histogram.h"

namespace coder::harness {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using beast::error_code;

constexpr size_t kReadBufferLimit = 64 * 1024;
constexpr uint32_t kHeaderLimit = 64 * 1024;
constexpr size_t kWebsocketMessageLimit = 1 << 20;
/// A connection whose FIN or reset is seen this close before the exit (or after it) was closed by the
/// exit: the kernel closes a process's sockets just before its pidfd says it exited, and the loop may
/// see the two in either order.
constexpr auto kExitWindow = std::chrono::milliseconds(2);

bool IsReset(const error_code& ec) { return ec == net::error::connection_reset || ec == net::error::broken_pipe; }

/// Whether the server's side of an idle keep-alive connection has closed (its FIN or a reset is
/// here), or it sent something nobody asked for: a request must not go on it.
bool PeerClosedOrSpoke(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && p.revents != 0;
}

/// What the kernel says now of connection `fd`, which ended before any byte of the answer to its request.
EofLooks LookAtEof(int fd, bool reset, bool peer_seen) {
  EofLooks looks;
  looks.reset = reset;
  looks.peer_seen = peer_seen;
  if (reset) return looks;
  tcp_info acked{};
  tcp_info after{};
  socklen_t len = sizeof acked;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &acked, &len) != 0) return looks;
  looks.unacked = acked.tcpi_unacked;
  // The kernel reads a socket's state before it takes the socket's lock for the rest of TCP_INFO, and
  // a reset empties the send queue (unacked 0) and closes the socket under that lock: one look can
  // pair the state from before a reset with the unacked count from after it. A second look's state
  // comes after the first's count, so a reset that emptied the queue shows in it.
  len = sizeof after;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &after, &len) == 0) looks.closed_after = after.tcpi_state == TCP_CLOSE;
  // A server that half-closed (shutdown for writing, as a lingering close does) still has a socket
  // whose kernel acknowledges what arrives; whether it still holds the request unread, or is gone.
  if (auto peer = DiagPeerOf(fd); peer && *peer) looks.peer_rx_queue = (*peer)->rx_queue;
  return looks;
}

/// Whether every byte written on `fd` has been acknowledged by the peer's TCP.
bool AllAcknowledged(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  return ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 && info.tcpi_unacked == 0;
}

std::string Describe(const error_code& ec) {
  if (ec == net::error::connection_refused) return "connection refused";
  return ec.message();
}

enum class ConnEnd { kNone, kClosed, kReset, kWatchdog };

/// The server's end of a connection, as the kernel last said: waiting in the listener's accept queue,
/// accepted with our request still unread, or accepted with all we sent read.
enum class ServerSide { kUnknown, kQueued, kUnread, kHeld };

using ResponseParser = http::response_parser<CountingBody>;

}  // namespace

/// One connection of the session: a --client connection (group ≥ 0) or a load connection (-1).
struct TrafficConn {
  explicit TrafficConn(const net::any_io_executor& context) : socket(context), timer(context) {}
  tcp::socket socket;
  std::unique_ptr<websocket::stream<tcp::socket>> ws;  // the socket, once upgraded
  net::steady_timer timer;                             // the load's next due time
  beast::flat_buffer buffer{kReadBufferLimit};
  int group = -1;
  bool open = false;       // connected, its end not yet seen
  bool confirmed = false;  // established as its kind asks
  bool established_at_signal = false;
  bool request_pending = false;            // a request whose fate is still to be recorded
  const ResponseParser* parser = nullptr;  // the inflight answer being read, while it is
  ConnEnd end = ConnEnd::kNone;
  ServerSide server_side = ServerSide::kUnknown;  // of --client silent and inflight, while establishing
  bool peer_seen = false;                         // sock_diag found the server's end at the connect
  std::optional<Clock::time_point> ended_at;
  std::optional<int> websocket_code;  // the close frame's code
  std::string failure;                // why it can never be confirmed

  tcp::socket& live() { return ws ? ws->next_layer() : socket; }
  void CloseSocket() {
    error_code ignored;
    live().close(ignored);
    open = false;
  }
};

struct TrafficSession::State : std::enable_shared_from_this<State> {
  State(const net::any_io_executor& c, const TrafficSpec& s, Target t)
      : context(c), spec(s), target(std::move(t)), signal_event(c) {
    signal_event.expires_at(Clock::time_point::max());
  }

  net::any_io_executor context;
  const TrafficSpec spec;
  const Target target;
  std::string host_header;
  tcp::endpoint endpoint;
  std::vector<std::unique_ptr<TrafficConn>> conns;
  TrafficRecord record;
  LatencyHistogram latency_before;
  LatencyHistogram latency_during;
  net::steady_timer signal_event;  // cancelled at the signal: inflight clients wait on it
  std::optional<Clock::time_point> signal_at;
  std::optional<Clock::time_point> exit_at;
  Clock::time_point load_started;
  uint64_t next_index = 0;
  bool load_stopped = false;
  bool watchdog = false;
  bool closed = false;

  std::string RequestFor(const std::string& path) const {
    std::string out = fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: coder-diag\r\n", path, host_header);
    for (const auto& [name, value] : target.headers) out += fmt::format("{}: {}\r\n", name, value);
    return out + "\r\n";
  }
  bool AfterSignal(Clock::time_point t) const { return signal_at && t >= *signal_at; }
  RequestFates& RequestsOf(const TrafficConn& c) {
    return c.group < 0 ? record.load->requests : record.clients[static_cast<size_t>(c.group)].requests;
  }
  void NoteError(const TrafficConn& c, const std::string& what) {
    std::string& first =
        c.group < 0 ? record.load->first_error : record.clients[static_cast<size_t>(c.group)].first_error;
    if (first.empty()) first = what;
  }
  /// A request begins: counted once, whatever happens to it next.
  void Begin(TrafficConn& c) {
    if (c.request_pending) return;
    c.request_pending = true;
    ++RequestsOf(c).tried;
  }
  /// Records the pending request's fate, once: false when it had one already (the watchdog's, say).
  bool Settle(TrafficConn& c, uint64_t RequestFates::*fate) {
    if (!c.request_pending) return false;
    c.request_pending = false;
    ++(RequestsOf(c).*fate);
    return true;
  }
  void End(TrafficConn& c, ConnEnd end) {
    if (c.end != ConnEnd::kNone) return;
    c.end = end;
    c.ended_at = Clock::now();
    c.open = false;
  }
  /// The next load request's intended send time; nullopt once the load is over.
  std::optional<Clock::time_point> NextDue() {
    if (load_stopped || closed) return std::nullopt;
    if (!spec.load->rate_per_s) return Clock::now();
    const auto offset = std::chrono::duration<double>(static_cast<double>(next_index++) / *spec.load->rate_per_s);
    return load_started + std::chrono::duration_cast<Clock::duration>(offset);
  }
  bool Established(TrafficConn& c) const {
    if (!c.confirmed || c.end != ConnEnd::kNone || !c.open) return false;
    if (c.group < 0) return true;
    const ClientKind kind = spec.clients[static_cast<size_t>(c.group)].kind;
    if (kind == ClientKind::kSilent) return ServerHoldsIt(c);
    if (kind != ClientKind::kInflight) return true;
    if (!c.request_pending || AnswerUnparsed(c)) return false;
    if (c.parser != nullptr && c.parser->is_header_done()) return true;
    return AllAcknowledged(c.socket.native_handle()) && ServerHoldsIt(c);
  }
  // A connection in the listener's accept queue has been acknowledged by the kernel, request and
  // all, but the server has not seen it, and an accepted one's request may sit unread in its receive
  // queue: a stop then resets it unread. The kernel says which of the three the server's end is (its
  // socket has no inode until accepted; its receive queue counts what it has not read), one hash
  // lookup per connection, and only until it holds what was sent. Where the kernel cannot say (the
  // server's end in another namespace, no sock_diag) an acknowledgement stands for it.
  static bool ServerHoldsIt(TrafficConn& c) {
    if (c.server_side != ServerSide::kHeld) {
      auto peer = DiagPeerOf(c.socket.native_handle());
      if (!peer || !*peer) c.server_side = ServerSide::kUnknown;
      else if ((*peer)->inode == 0) c.server_side = ServerSide::kQueued;
      else if ((*peer)->rx_queue > 0) c.server_side = ServerSide::kUnread;
      else c.server_side = ServerSide::kHeld;
    }
    return c.server_side == ServerSide::kHeld || c.server_side == ServerSide::kUnknown;
  }
  // Bytes of the answer that the connection's coroutine has not parsed yet (a busy loop): until it
  // has, whether the answer is still in flight or already whole cannot be told.
  static bool AnswerUnparsed(TrafficConn& c) {
    if (c.parser == nullptr || c.parser->is_header_done()) return false;
    error_code ec;
    return c.buffer.size() > 0 || c.socket.available(ec) > 0 || ec;
  }
  std::optional<std::string> AnsweredWholeAlready(TrafficConn& c) const;
  bool EstablishedAtSignal(TrafficConn& c) const;

  net::awaitable<error_code> Connect(TrafficConn& c);
  /// Connects a --client connection: false (its failure recorded) when it cannot be, or the session
  /// closed meanwhile.
  net::awaitable<bool> ConnectClient(TrafficConn& c);
  net::awaitable<bool> Exchange(TrafficConn& c, const std::string& request, Clock::time_point due, bool hold);
  net::awaitable<void> AwaitClose(TrafficConn& c);
  net::awaitable<void> RunClient(std::shared_ptr<State> keep, TrafficConn& c);
  net::awaitable<void> RunWebsocket(std::shared_ptr<State> keep, TrafficConn& c);
  net::awaitable<void> RunLoad(std::shared_ptr<State> keep, TrafficConn& c);
  void Finish();
};

std::optional<std::string> TrafficSession::State::AnsweredWholeAlready(TrafficConn& c) const {
  // An inflight answer is in flight only while the server still has some of it to send: once all of
  // it sits in this side's buffers, the server is done with it, read or not.
  if (c.parser == nullptr) return std::nullopt;
  if (c.parser->is_done()) return "answered whole before the stop signal";
  if (!c.parser->is_header_done() || !c.parser->content_length()) return std::nullopt;
  error_code ec;
  const uint64_t here = c.parser->get().body().bytes + c.buffer.size() + c.socket.available(ec);
  if (!ec && here >= *c.parser->content_length())
    return fmt::format(
        "its whole answer ({} bytes) had arrived before the stop signal; use a slower path or a "
        "download larger than the socket buffers (tens of MB)",
        *c.parser->content_length());
  return std::nullopt;
}

bool TrafficSession::State::EstablishedAtSignal(TrafficConn& c) const {
  if (AnsweredWholeAlready(c)) return false;
  if (!AnswerUnparsed(c)) return Established(c);
  // Bytes of the answer arrived since the loop last ran the connection's coroutine (the header of a
  // download, say): parse a copy of what is here to tell an answer in flight from a whole one.
  std::string here(static_cast<const char*>(c.buffer.data().data()), c.buffer.size());
  std::array<char, kHeaderLimit> peeked;
  const ssize_t n = ::recv(c.socket.native_handle(), peeked.data(), peeked.size(), MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) here.append(peeked.data(), static_cast<size_t>(n));
  http::response_parser<http::empty_body> header;
  header.header_limit(kHeaderLimit);
  header.body_limit(boost::none);  // Beast's default (8 MB) refuses the header of a larger download
  header.eager(false);
  error_code ec;
  const size_t header_bytes = header.put(net::buffer(here), ec);
  if (ec || !header.is_header_done()) return false;  // not even a whole header: cannot tell, so not
  if (!header.content_length()) return true;         // chunked or to the close: in flight until it ends
  error_code avail_ec;
  const uint64_t body_here = c.buffer.size() + c.socket.available(avail_ec) - header_bytes;
  return !avail_ec && body_here < *header.content_length();
}

net::awaitable<error_code> TrafficSession::State::Connect(TrafficConn& c) {
  error_code ec;
  c.socket = tcp::socket(context);
  co_await c.socket.async_connect(endpoint, net::redirect_error(net::use_awaitable, ec));
  if (!ec) {
    c.open = true;
    c.socket.set_option(tcp::no_delay(true), ec);
    ec = {};
    // Whether the server's end is where sock_diag can see it: if it is, its later absence means more.
    auto peer = DiagPeerOf(c.socket.native_handle());
    c.peer_seen = peer && *peer;
  }
  co_return ec;
}

// Sends `request` and reads its answer whole, recording its fate. `hold` (inflight): after the
// header, the rest is read only after the stop signal. Returns whether the connection may carry
// another request.
net::awaitable<bool> TrafficSession::State::Exchange(TrafficConn& c, const std::string& request, Clock::time_point due,
                                                     bool hold) {
  Begin(c);
  error_code ec;
  co_await net::async_write(c.socket, net::buffer(request), net::redirect_error(net::use_awaitable, ec));
  if (closed || !c.request_pending) co_return false;
  if (ec) {
    // Nothing of it reached a server that kept the connection: the close came first.
    Settle(c, IsReset(ec) ? &RequestFates::closed_before_read : &RequestFates::error);
    if (!IsReset(ec)) NoteError(c, fmt::format("writing the request: {}", Describe(ec)));
    c.CloseSocket();
    co_return false;
  }
  ResponseParser parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(boost::none);
  if (hold) {
    c.confirmed = true;
    c.parser = &parser;
    co_await http::async_read_header(c.socket, c.buffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (!ec && !parser.is_done() && !signal_at && !closed && c.request_pending) {
      co_await signal_event.async_wait(net::redirect_error(net::use_awaitable, ec));
      ec = {};  // cancelled at the signal: that is the wake-up
    }
  }
  if (!ec && !parser.is_done() && !closed && c.request_pending)
    co_await http::async_read(c.socket, c.buffer, parser, net::redirect_error(net::use_awaitable, ec));
  c.parser = nullptr;
  if (closed || !c.request_pending) co_return false;
  const auto now = Clock::now();
  if (!ec && parser.is_done()) {
    const bool after = AfterSignal(now);
    Settle(c, after ? &RequestFates::answered_after : &RequestFates::answered_before);
    if (c.group < 0) {
      ++record.load->statuses[static_cast<int>(parser.get().result_int())];
      (after ? latency_during : latency_before).Add(MsBetween(due, now));
    }
    if (hold && !after) c.failure = "answered whole before the stop signal";
    if (!parser.get().keep_alive()) {
      c.CloseSocket();
      co_return false;
    }
    co_return true;
  }
  const bool reset = IsReset(ec);
  if (ec == net::error::operation_aborted) co_return false;
  if (parser.got_some()) {
    Settle(c, &RequestFates::dropped);
  } else if (reset || ec == http::error::end_of_stream || ec == net::error::eof) {
    Settle(c, ServerTookRequest(LookAtEof(c.socket.native_handle(), reset, c.peer_seen))
                  ? &RequestFates::dropped
                  : &RequestFates::closed_before_read);
  } else {
    Settle(c, &RequestFates::error);
    NoteError(c, fmt::format("reading the answer: {}", ec.message()));
  }
  End(c, reset ? ConnEnd::kReset : ConnEnd::kClosed);
  c.CloseSocket();
  co_return false;
}

// Waits for the server to end an established connection, discarding anything it sends.
net::awaitable<void> TrafficSession::State::AwaitClose(TrafficConn& c) {
  std::array<char, 4096> scratch;
  for (;;) {
    error_code ec;
    co_await c.socket.async_read_some(net::buffer(scratch), net::redirect_error(net::use_awaitable, ec));
    if (closed || c.end != ConnEnd::kNone) co_return;
    if (!ec) continue;
    if (ec == net::error::operation_aborted) co_return;
    End(c, IsReset(ec) ? ConnEnd::kReset : ConnEnd::kClosed);
    co_return;
  }
}

net::awaitable<bool> TrafficSession::State::ConnectClient(TrafficConn& c) {
  if (const error_code ec = co_await Connect(c); ec) {
    if (closed) co_return false;
    c.failure = Describe(ec);
    NoteError(c, c.failure);
    End(c, ConnEnd::kClosed);
    co_return false;
  }
  co_return !closed;
}

net::awaitable<void> TrafficSession::State::RunClient(std::shared_ptr<State> /*keep*/, TrafficConn& c) {
  const ClientSpec& spec_of = spec.clients[static_cast<size_t>(c.group)];
  if (!co_await ConnectClient(c)) co_return;
  if (spec_of.kind == ClientKind::kIdle || spec_of.kind == ClientKind::kInflight) {
    const bool hold = spec_of.kind == ClientKind::kInflight;
    const bool kept = co_await Exchange(c, RequestFor(spec_of.path), Clock::now(), hold);
    if (closed || c.end != ConnEnd::kNone) {
      if (c.failure.empty()) c.failure = "the server closed the connection before answering";
      co_return;
    }
    if (!kept && c.failure.empty()) c.failure = "the server answered with Connection: close";
    if (!hold) c.confirmed = kept;
  } else {
    c.confirmed = true;
  }
  co_await AwaitClose(c);
  if (!c.confirmed && c.failure.empty()) c.failure = "the server closed the connection";
}

net::awaitable<void> TrafficSession::State::RunWebsocket(std::shared_ptr<State> /*keep*/, TrafficConn& c) {
  const ClientSpec& spec_of = spec.clients[static_cast<size_t>(c.group)];
  if (!co_await ConnectClient(c)) co_return;
  c.ws = std::make_unique<websocket::stream<tcp::socket>>(std::move(c.socket));
  auto& ws = *c.ws;
  ws.read_message_max(kWebsocketMessageLimit);
  websocket::stream_base::timeout timeouts = websocket::stream_base::timeout::suggested(beast::role_type::client);
  timeouts.handshake_timeout = spec.establish_timeout;
  ws.set_option(timeouts);
  ws.set_option(websocket::stream_base::decorator([headers = target.headers](websocket::request_type& req) {
    req.set(http::field::user_agent, "coder-diag");
    for (const auto& [name, value] : headers) req.set(name, value);
  }));
  websocket::response_type answer;
  error_code ec;
  co_await ws.async_handshake(answer, host_header, spec_of.path, net::redirect_error(net::use_awaitable, ec));
  if (closed) co_return;
  if (ec) {
    c.failure = answer.result_int() != 0 && answer.result_int() != 101
                    ? fmt::format("the upgrade was answered {} {}", answer.result_int(), std::string(answer.reason()))
                    : fmt::format("the upgrade failed: {}", ec.message());
    NoteError(c, c.failure);
    End(c, IsReset(ec) ? ConnEnd::kReset : ConnEnd::kClosed);
    c.CloseSocket();
    co_return;
  }
  c.confirmed = true;
  for (;;) {
    c.buffer.clear();
    co_await ws.async_read(c.buffer, net::redirect_error(net::use_awaitable, ec));
    if (closed || c.end != ConnEnd::kNone) co_return;
    if (!ec) continue;
    if (ec == net::error::operation_aborted) co_return;
    if (ec == websocket::error::closed) {
      c.websocket_code = static_cast<int>(ws.reason().code);
      End(c, ConnEnd::kClosed);
    } else {
      End(c, IsReset(ec) ? ConnEnd::kReset : ConnEnd::kClosed);
    }
    co_return;
  }
}

net::awaitable<void> TrafficSession::State::RunLoad(std::shared_ptr<State> /*keep*/, TrafficConn& c) {
  const std::string request = RequestFor(spec.load->path);
  const bool paced = spec.load->rate_per_s.has_value();
  for (;;) {
    const auto due = NextDue();
    if (!due) co_return;
    if (*due > Clock::now()) {
      error_code ec;
      c.timer.expires_at(*due);
      co_await c.timer.async_wait(net::redirect_error(net::use_awaitable, ec));
      if (load_stopped || closed) co_return;
    }
    // A keep-alive connection the server closed while it was idle takes no request: the request goes
    // on a new one, as an HTTP client's pool does it.
    if (c.open && PeerClosedOrSpoke(c.socket.native_handle())) c.CloseSocket();
    if (!c.open) {
      Begin(c);
      const error_code ec = co_await Connect(c);
      if (closed) co_return;
      if (ec) {
        const bool refused_after = ec == net::error::connection_refused && AfterSignal(Clock::now());
        Settle(c, refused_after ? &RequestFates::refused : &RequestFates::error);
        if (!refused_after) NoteError(c, fmt::format("connecting: {}", Describe(ec)));
        // As fast as it can, a connection would only spin on a closed listener (or a failing one).
        if (!paced) co_return;
        continue;
      }
    }
    c.end = ConnEnd::kNone;  // a load connection's end only closes the socket; the next request opens another
    (void)co_await Exchange(c, request, *due, false);
    if (closed) co_return;
  }
}

TrafficSession::TrafficSession(const net::any_io_executor& context, const TrafficSpec& spec, Target target)
    : state_(std::make_shared<State>(context, spec, std::move(target))) {
  auto& st = *state_;
  st.record.url = st.target.url_text;
  const bool v6 = st.target.url.host.find(':') != std::string::npos;
  st.host_header = v6 ? fmt::format("[{}]:{}", st.target.url.host, st.target.url.port)
                      : fmt::format("{}:{}", st.target.url.host, st.target.url.port);
  for (const ClientSpec& c : spec.clients)
    st.record.clients.push_back({.kind = std::string(ToString(c.kind)), .path = c.path, .count = c.count});
  if (spec.load)
    st.record.load =
        LoadRecord{.path = spec.load->path, .rate_per_s = spec.load->rate_per_s, .connections = spec.load->connections};
}

TrafficSession::~TrafficSession() { (void)Close(); }

net::awaitable<Result<bool>> TrafficSession::Start() {
  auto st = state_;
  error_code ec;
  const auto address = net::ip::make_address(st->target.url.host, ec);
  if (!ec) {
    st->endpoint = tcp::endpoint(address, static_cast<uint16_t>(std::stoi(st->target.url.port)));
  } else {
    tcp::resolver resolver(st->context);
    auto results = co_await resolver.async_resolve(st->target.url.host, st->target.url.port,
                                                   net::redirect_error(net::use_awaitable, ec));
    if (ec || results.empty())
      co_return Error{fmt::format("--client-url: cannot resolve {}: {}", st->target.url.host, ec.message())};
    st->endpoint = results.begin()->endpoint();
  }
  if (st->closed) co_return true;
  for (size_t g = 0; g < st->spec.clients.size(); ++g) {
    for (uint32_t i = 0; i < st->spec.clients[g].count; ++i) {
      auto& c = *st->conns.emplace_back(std::make_unique<TrafficConn>(st->context));
      c.group = static_cast<int>(g);
      const bool ws = st->spec.clients[g].kind == ClientKind::kWebsocket;
      // Each coroutine holds the state (its first argument) for as long as it runs.
      net::co_spawn(st->context, ws ? st->RunWebsocket(st, c) : st->RunClient(st, c), net::detached);
    }
  }
  if (st->spec.load) {
    st->load_started = Clock::now();
    for (uint32_t i = 0; i < st->spec.load->connections; ++i) {
      auto& c = *st->conns.emplace_back(std::make_unique<TrafficConn>(st->context));
      net::co_spawn(st->context, st->RunLoad(st, c), net::detached);
    }
  }
  co_return true;
}

net::awaitable<bool> TrafficSession::WaitEstablished(Clock::time_point deadline) {
  auto st = state_;
  net::steady_timer pause_timer(st->context);
  auto pause = std::chrono::microseconds(250);
  for (;;) {
    // Per group: how many are established, and the first that never can be.
    std::vector<uint64_t> ready(st->spec.clients.size(), 0);
    std::vector<std::string> failures(st->spec.clients.size());
    std::vector<uint64_t> queued(st->spec.clients.size(), 0);  // connected, never accepted
    std::vector<uint64_t> unread(st->spec.clients.size(), 0);  // accepted, the request never read
    for (auto& c : st->conns) {
      if (c->group < 0) continue;
      const size_t g = static_cast<size_t>(c->group);
      bool ok = false;
      if (auto whole = st->AnsweredWholeAlready(*c)) c->failure = *whole;
      else ok = st->Established(*c);
      if (ok) ++ready[g];
      else if (failures[g].empty() && !c->failure.empty()) failures[g] = c->failure;
      if (!ok && c->open && c->end == ConnEnd::kNone) {
        if (c->server_side == ServerSide::kQueued) ++queued[g];
        if (c->server_side == ServerSide::kUnread) ++unread[g];
      }
    }
    bool all = true;
    bool hopeless = false;
    for (size_t g = 0; g < ready.size(); ++g) {
      all = all && ready[g] == st->spec.clients[g].count;
      hopeless = hopeless || !failures[g].empty();
    }
    if (all) co_return true;
    if (hopeless || st->closed || Clock::now() >= deadline) {
      std::vector<std::string> parts;
      for (size_t g = 0; g < ready.size(); ++g) {
        const ClientSpec& c = st->spec.clients[g];
        if (ready[g] == c.count) continue;
        std::string why = fmt::format("; {}", failures[g]);
        if (failures[g].empty()) {
          why = fmt::format(" within {} ms", st->spec.establish_timeout.count());
          if (queued[g] > 0)
            why += fmt::format("; {} still in the listener's accept queue (the server never accepted them)", queued[g]);
          if (unread[g] > 0)
            why += fmt::format("; {} accepted with the request still unread (the server never read it)", unread[g]);
        }
        parts.push_back(fmt::format("--client {}:{}:{}: {} of {} established{}", ToString(c.kind), c.count, c.path,
                                    ready[g], c.count, why));
      }
      st->record.established = false;
      st->record.establish_detail = fmt::format("{}", fmt::join(parts, "; "));
      co_return false;
    }
    error_code ec;
    pause_timer.expires_at(std::min<Clock::time_point>(Clock::now() + pause, deadline));
    co_await pause_timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(10));
  }
}

void TrafficSession::MarkSignal(Clock::time_point at) {
  auto& st = *state_;
  if (st.signal_at) return;
  st.signal_at = at;
  for (auto& c : st.conns) {
    if (c->group < 0) continue;
    c->established_at_signal = st.EstablishedAtSignal(*c);
    if (c->established_at_signal) ++st.record.clients[static_cast<size_t>(c->group)].established;
  }
  // What WaitEstablished saw may have changed since (an answer finished, a server closed): the run
  // counts as tested with its clients only if they all were established at the signal itself.
  std::vector<std::string> lost;
  for (size_t g = 0; g < st.spec.clients.size(); ++g) {
    const ClientSpec& c = st.spec.clients[g];
    if (st.record.clients[g].established < c.count)
      lost.push_back(fmt::format("--client {}:{}:{}: {} of {} established at the stop signal", ToString(c.kind),
                                 c.count, c.path, st.record.clients[g].established, c.count));
  }
  if (!lost.empty() && st.record.established) {
    st.record.established = false;
    st.record.establish_detail = fmt::format("{}", fmt::join(lost, "; "));
  }
  st.signal_event.cancel();
}

std::vector<TrafficSession::HeldConnection> TrafficSession::OpenConnections() const {
  std::vector<HeldConnection> out;
  for (const auto& c : state_->conns) {
    if (!c->open) continue;
    error_code ec;
    const auto local = c->live().local_endpoint(ec);
    if (ec) continue;
    std::string what = c->group >= 0 ? fmt::format("the harness's {} client {}",
                                                   ToString(state_->spec.clients[static_cast<size_t>(c->group)].kind),
                                                   state_->spec.clients[static_cast<size_t>(c->group)].path)
                                     : fmt::format("the harness's load {}", state_->spec.load->path);
    out.push_back({local.address().to_string(), local.port(), std::move(what)});
  }
  return out;
}

void TrafficSession::MarkWatchdog() {
  auto& st = *state_;
  if (st.watchdog || st.closed) return;
  st.watchdog = true;
  st.load_stopped = true;
  for (auto& c : st.conns) {
    st.Settle(*c, &RequestFates::open_at_watchdog);
    if (c->group >= 0 && c->end == ConnEnd::kNone && c->open) st.End(*c, ConnEnd::kWatchdog);
    c->timer.cancel();
  }
}

void TrafficSession::MarkExit(Clock::time_point at) {
  auto& st = *state_;
  if (st.exit_at) return;
  st.exit_at = at;
  st.load_stopped = true;
  for (auto& c : st.conns) c->timer.cancel();
}

net::awaitable<void> TrafficSession::Settle(Clock::time_point deadline) {
  auto st = state_;
  net::steady_timer pause_timer(st->context);
  auto pause = std::chrono::microseconds(100);
  for (;;) {
    const bool quiet = std::none_of(st->conns.begin(), st->conns.end(), [](const auto& c) {
      return c->request_pending || (c->group >= 0 && c->open && c->end == ConnEnd::kNone);
    });
    if (quiet || st->closed || Clock::now() >= deadline) co_return;
    error_code ec;
    pause_timer.expires_at(std::min<Clock::time_point>(Clock::now() + pause, deadline));
    co_await pause_timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(10));
  }
}

void TrafficSession::State::Finish() {
  const auto now = Clock::now();
  std::vector<bool> open_at_end(record.clients.size(), false);
  for (auto& c : conns) {
    Settle(*c, watchdog ? &RequestFates::open_at_watchdog : &RequestFates::open_at_exit);
    if (c->group >= 0) {
      const size_t g = static_cast<size_t>(c->group);
      ClientGroupRecord& group = record.clients[g];
      ConnectionFates& f = group.connections;
      const bool by_exit = c->end == ConnEnd::kNone ||
                           (exit_at && c->ended_at && *c->ended_at + kExitWindow >= *exit_at && !c->websocket_code);
      if (signal_at && !c->established_at_signal) ++f.not_established;
      else if (!signal_at && !c->confirmed) ++f.not_established;
      else if (c->end == ConnEnd::kWatchdog) ++f.open_at_watchdog, open_at_end[g] = true;
      else if (by_exit) ++f.open_at_exit, open_at_end[g] = true;
      else if (c->end == ConnEnd::kReset) ++f.reset;
      else ++f.closed;
      if (spec.clients[g].kind == ClientKind::kWebsocket && c->confirmed && c->end != ConnEnd::kNone &&
          c->end != ConnEnd::kWatchdog)
        ++group.websocket_close_codes[c->websocket_code.value_or(1006)];
      if (signal_at && c->ended_at && !by_exit && c->end != ConnEnd::kWatchdog) {
        const double ms = MsBetween(*signal_at, *c->ended_at);
        group.last_closed_ms = std::max(group.last_closed_ms.value_or(ms), ms);
      }
    }
    c->CloseSocket();
    c->timer.cancel();
  }
  for (size_t g = 0; g < record.clients.size(); ++g)
    if (open_at_end[g]) record.clients[g].last_closed_ms.reset();
  signal_event.cancel();
  if (record.load) {
    LoadRecord& load = *record.load;
    load.duration_ms = MsBetween(load_started, exit_at.value_or(now));
    if (load.duration_ms > 0)
      load.achieved_per_s = static_cast<double>(load.requests.total()) / (load.duration_ms / 1e3);
    load.before = latency_before.Summary();
    load.during = latency_during.Summary();
  }
}

TrafficRecord TrafficSession::Close() {
  auto& st = *state_;
  if (!st.closed) {
    st.closed = true;
    st.Finish();
  }
  return st.record;
}

}  // namespace coder::harness
