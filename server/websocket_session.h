#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "server/log.h"
#include "server/notifications.h"
#include "server/wait_group.h"

namespace coder::server {

/// One client of GET /api/v2/notifications/watch. While live it holds a named slot in the API's WebSocket
/// wait group and receives every notification as a JSON text message. Lives on the io thread: every
/// member except Deliver() must be called there. Owned by shared_ptr (the coroutines keep it alive).
class WatchSession final : public NotificationWatcher, public std::enable_shared_from_this<WatchSession> {
 public:
  /// `group_owner` keeps `websockets` alive for as long as this session (and so its slot) lives.
  WatchSession(boost::beast::tcp_stream&& stream, NotificationsManager& notifications, WaitGroup& websockets,
               std::shared_ptr<const void> group_owner, std::string name, Logger& log);

  /// Completes the upgrade, then serves until the peer or Close() ends the session. The wait-group slot is
  /// released when this returns.
  boost::asio::awaitable<void> Run(boost::beast::http::request<boost::beast::http::string_body> upgrade);

  /// Thread-safe: queues the notification for this peer.
  void Deliver(const Notification& n, uint64_t seq) override;

  /// Starts the closing handshake with `code` (1001 going away at shutdown). Idempotent.
  void Close(boost::beast::websocket::close_code code);

  const std::string& name() const { return name_; }

 private:
  struct Outgoing {
    std::string text;
    uint64_t seq;
  };
  boost::asio::awaitable<void> WriteLoop();
  void StartClose();
  // Braced field lists live in these plain functions, never in a coroutine body: g++ 12 destroys an
  // initializer_list temporary inside a coroutine twice.
  void LogEnded(std::string_view what, const boost::system::error_code& ec);
  void LogOversized();
  void ConfigureStream();  // timeouts, message limit, the Server header: before the handshake
  void LogCloseCut();
  /// The peer has let 512 live notifications pile up unread, or has taken nothing for kWriteStall while
  /// there was something to write: closes its connection outright.
  void DropSlowPeer();
  /// The next notification to write: the backlog (pulled from the manager a step at a time, so a backlog
  /// of any size is paced by the peer's reads), then the live ones. False when there is none.
  bool NextOutgoing(Outgoing& out);
  void StartWriting();

  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  NotificationsManager& notifications_;
  WaitGroup& websockets_;
  std::string name_;
  Logger& log_;
  std::shared_ptr<const void> group_owner_;  // declared before slot_, so it is destroyed after it
  WaitGroupSlot slot_;
  std::deque<Outgoing> outbox_;  // live notifications, seq >= replay_until_
  std::deque<Outgoing> replay_;  // the current step of the backlog
  uint64_t replay_after_ = 0;    // the backlog's seqs written so far are <= this
  uint64_t replay_until_ = 0;    // the backlog is what was pending below this seq at registration
  bool replay_done_ = false;
  boost::asio::steady_timer stall_timer_;
  /// Armed when the close is requested: at its expiry the connection is closed, whatever the peer does.
  boost::asio::steady_timer close_deadline_;
  bool open_ = false;
  bool writing_ = false;
  bool closing_ = false;
  std::optional<boost::beast::websocket::close_code> close_code_;
};

}  // namespace coder::server
