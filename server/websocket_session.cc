#include "server/websocket_session.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

namespace coder::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {
// A peer may send small messages; anything larger is refused with 1009.
constexpr size_t kMaxIncomingMessage = 64 * 1024;
constexpr size_t kReadChunk = 16 * 1024;
// Notifications queued for one peer that does not read them. Past this the peer is dropped: its backlog
// would otherwise grow with every notification for as long as its connection lives. Nothing is lost:
// a notification stays pending until some watcher has taken it.
constexpr size_t kMaxOutbox = 512;
// The backlog is copied from the manager this many at a time, when the previous step has been written.
constexpr size_t kReplayStep = 64;
// A write the peer has not taken for this long (its buffers and ours are full): the peer is not reading.
constexpr auto kWriteStall = std::chrono::seconds(5);
// From the moment a close is requested to the connection's end, whatever the peer does: the close
// frame can queue behind a write the peer never takes (full buffers, a stopped process, unread pongs),
// so Beast's own handshake timer, which starts only once the frame is written, cannot bound it.
constexpr auto kCloseCut = std::chrono::seconds(2);
}  // namespace

WatchSession::WatchSession(beast::tcp_stream&& stream, NotificationsManager& notifications, WaitGroup& websockets,
                           std::shared_ptr<const void> group_owner, std::string name, Logger& log)
    : ws_(std::move(stream)),
      notifications_(notifications),
      websockets_(websockets),
      name_(std::move(name)),
      log_(log),
      group_owner_(std::move(group_owner)),
      stall_timer_(ws_.get_executor()),
      close_deadline_(ws_.get_executor()) {}

void WatchSession::ConfigureStream() {
  // The WebSocket layer keeps its own timers; the TCP stream's would cut long-lived sessions.
  beast::get_lowest_layer(ws_).expires_never();
  websocket::stream_base::timeout timeouts{};
  // Bounds the closing handshake at shutdown: a peer that never answers our close frame releases its
  // wait-group slot after this long instead of holding the whole shutdown.
  timeouts.handshake_timeout = std::chrono::seconds(2);
  timeouts.idle_timeout = std::chrono::seconds(60);
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  // No Beast limit (0 is none): its own would fail a frame that merely announces more than 16 MiB the
  // same broken way as below. The loop below enforces kMaxIncomingMessage instead.
  ws_.read_message_max(0);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(beast::http::field::server, "coder"); }));
}

net::awaitable<void> WatchSession::Run(beast::http::request<beast::http::string_body> upgrade) {
  auto self = shared_from_this();
  ConfigureStream();
  auto [accept_ec] = co_await ws_.async_accept(upgrade, net::as_tuple(net::use_awaitable));
  if (accept_ec) {
    LogEnded("websocket upgrade failed", accept_ec);
    co_return;
  }
  slot_ = WaitGroupSlot(websockets_, name_);
  open_ = true;
  replay_until_ = notifications_.AddWatcher(self);
  StartWriting();
  if (close_code_) StartClose();  // shutdown asked while the upgrade was in flight

  // The size limit is enforced here rather than with read_message_max: Beast 1.81 fails an oversized
  // message by closing after reading one more 2 KiB chunk (teardown_tcp_op tests the wrong byte count),
  // so the peer, still writing, gets a reset and loses the 1009 close frame. A normal close handshake
  // keeps reading (and dropping) until the peer answers, and the peer sees 1009.
  beast::flat_buffer buffer;
  size_t message_bytes = 0;
  for (;;) {
    auto [ec, n] = co_await ws_.async_read_some(buffer, kReadChunk, net::as_tuple(net::use_awaitable));
    if (ec) {
      if (ec != websocket::error::closed && ec != net::error::operation_aborted)
        LogEnded("websocket session ended", ec);
      break;
    }
    buffer.consume(n);  // watchers have nothing to say; their messages are read and dropped
    message_bytes += n;
    if (message_bytes > kMaxIncomingMessage && !close_code_) {
      LogOversized();
      Close(websocket::close_code::too_big);
    }
    if (ws_.is_message_done()) message_bytes = 0;
  }
  open_ = false;
  close_deadline_.cancel();
  notifications_.RemoveWatcher(this);
  slot_.Release();
}

void WatchSession::LogEnded(std::string_view what, const boost::system::error_code& ec) {
  log_.Log(what == "websocket session ended" ? LogLevel::kDebug : LogLevel::kWarn, what,
           {{"session", name_}, {"reason", ec.message()}});
}

void WatchSession::LogCloseCut() {
  log_.Warn("websocket peer did not complete the close in time; closing its connection",
            {{"session", name_}, {"after", "2s"}});
}

void WatchSession::LogOversized() {
  log_.Warn("websocket message over the limit; closing with 1009",
            {{"session", name_}, {"limit_bytes", kMaxIncomingMessage}});
}

void WatchSession::Deliver(const Notification& n, uint64_t seq) {
  std::string text = nlohmann::json{{"type", "notification"}, {"notification", n.ToJson()}}.dump();
  net::post(ws_.get_executor(), [self = shared_from_this(), text = std::move(text), seq]() mutable {
    if (!self->open_ || self->closing_) return;
    if (self->outbox_.size() >= kMaxOutbox) {
      self->DropSlowPeer();
      return;
    }
    self->outbox_.push_back({std::move(text), seq});
    self->StartWriting();
  });
}

void WatchSession::StartWriting() {
  if (writing_ || !open_ || closing_) return;
  writing_ = true;
  net::co_spawn(ws_.get_executor(), WriteLoop(), net::detached);
}

bool WatchSession::NextOutgoing(Outgoing& out) {
  while (replay_.empty() && !replay_done_) {
    auto step = notifications_.Backlog(replay_after_, replay_until_, kReplayStep);
    if (step.empty()) {
      replay_done_ = true;
      break;
    }
    for (auto& [seq, n] : step)
      replay_.push_back({nlohmann::json{{"type", "notification"}, {"notification", n.ToJson()}}.dump(), seq});
    replay_after_ = step.back().first;
  }
  auto& from = replay_.empty() ? outbox_ : replay_;
  if (from.empty()) return false;
  out = std::move(from.front());
  from.pop_front();
  return true;
}

net::awaitable<void> WatchSession::WriteLoop() {
  auto self = shared_from_this();
  Outgoing item;
  while (open_ && !closing_ && NextOutgoing(item)) {
    ws_.text(true);
    stall_timer_.expires_after(kWriteStall);
    stall_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (auto s = weak.lock(); s && !ec && !s->closing_) s->DropSlowPeer();
    });
    auto [ec, n] = co_await ws_.async_write(net::buffer(item.text), net::as_tuple(net::use_awaitable));
    stall_timer_.cancel();
    if (ec) break;  // the read loop sees the same failure and ends the session
    notifications_.MarkDelivered(item.seq);
  }
  writing_ = false;
}

void WatchSession::DropSlowPeer() {
  log_.Warn("websocket watcher is not reading its notifications; closing its connection",
            {{"session", name_}, {"pending", outbox_.size()}});
  // A close frame would queue behind the writes the peer is not taking: end the connection instead.
  closing_ = true;
  close_code_ = websocket::close_code::policy_error;
  outbox_.clear();
  replay_.clear();
  beast::get_lowest_layer(ws_).close();
}

void WatchSession::Close(websocket::close_code code) {
  if (close_code_) return;
  close_code_ = code;
  if (open_) StartClose();
}

void WatchSession::StartClose() {
  closing_ = true;
  close_deadline_.expires_after(kCloseCut);
  close_deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || !self->open_) return;  // the session ended first
    self->LogCloseCut();
    beast::get_lowest_layer(self->ws_).close();
  });
  net::co_spawn(
      ws_.get_executor(),
      [self = shared_from_this()]() -> net::awaitable<void> {
        // The read loop receives the peer's answering close frame and ends the session.
        auto [ec] = co_await self->ws_.async_close(websocket::close_reason(*self->close_code_),
                                                   net::as_tuple(net::use_awaitable));
        if (ec) beast::get_lowest_layer(self->ws_).close();
      },
      net::detached);
}

}  // namespace coder::server
