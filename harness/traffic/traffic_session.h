#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "harness/traffic/traffic_record.h"
#include "harness/traffic/traffic_spec.h"

namespace coder::harness {

/// The traffic of one run against its live target: the --client connections, opened after ready and
/// confirmed before the signal, and the --load, from ready until the target's exit. Every request it
/// tries gets exactly one fate, every connection one fate (TrafficRecord).
///
/// Lifecycle, in order: Start, WaitEstablished, MarkSignal, then MarkWatchdog if the watchdog fires,
/// MarkExit once the exit is seen, Settle, Close. Close (idempotent; the destructor calls it) records
/// what is still open as open at the exit and closes every socket.
///
/// Thread safety: none; every call on the executor's thread (the harness's event loop), where the
/// clients run as coroutines. They own their state with the session: a session may be destroyed while
/// they are suspended.
class TrafficSession {
 public:
  struct Target {
    ClientUrl url;
    std::string url_text;                                      ///< for the record
    std::vector<std::pair<std::string, std::string>> headers;  ///< on every request and upgrade
  };
  TrafficSession(const boost::asio::any_io_executor& executor, const TrafficSpec& spec, Target target);
  TrafficSession(const TrafficSession&) = delete;
  TrafficSession& operator=(const TrafficSession&) = delete;
  ~TrafficSession();

  /// Resolves the target's host and starts every client and the load; they go on by themselves. An
  /// Error when the host does not resolve (nothing is started then).
  boost::asio::awaitable<Result<bool>> Start();
  /// Suspends until every --client connection is confirmed (connected; idle: answered; inflight:
  /// request taken by the server's TCP and unanswered; websocket: upgraded) or `deadline`. False at the
  /// deadline or once one can never be (refused, closed, answered too soon), with the reason in the
  /// record's establish_detail.
  boost::asio::awaitable<bool> WaitEstablished(std::chrono::steady_clock::time_point deadline);
  /// The stop signal goes out at `at`: counts what is established now; inflight clients begin reading.
  void MarkSignal(std::chrono::steady_clock::time_point at);
  /// The watchdog fires: what is open now is open at the watchdog. Call before the SIGKILL.
  void MarkWatchdog();
  /// The target's exit was seen (at its pidfd's time): the load sends nothing more.
  void MarkExit(std::chrono::steady_clock::time_point at);
  /// Suspends until no request is in flight and no connection open, or `deadline`: the target's exit
  /// closed its sockets before its pidfd said so, and their reads are still to be seen.
  boost::asio::awaitable<void> Settle(std::chrono::steady_clock::time_point deadline);
  /// One connection the session holds open now, by its local port, and what it is ("the harness's
  /// websocket client /ws", "the harness's load /healthz"): how a hung target's sockets are told apart
  /// from other clients'.
  struct HeldConnection {
    std::string address;  ///< the client end's address ("127.0.0.1", "::1")
    uint16_t port = 0;    ///< and port
    std::string what;
  };
  std::vector<HeldConnection> OpenConnections() const;
  /// Records the rest as open at the exit, closes every socket and returns the record. Idempotent: a
  /// second call returns the same record.
  TrafficRecord Close();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace coder::harness
