#pragma once

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "server/api_types.h"
#include "server/log.h"
#include "server/rpc.h"
#include "server/wait_group.h"

namespace boost::asio {
class io_context;
}

namespace coder::server {

class NotificationsManager;

/// Serves POST /api/v2/aibridge/<provider>/... for the AI gateway daemon.
using AiGatewayHandler = std::function<boost::asio::awaitable<ApiResponse>(ApiRequest)>;

/// The HTTP API: Beast listener and connections, the notification watch WebSocket, and the API side of the
/// AI gateway's in-memory RPC session. Every live WebSocket session, and the RPC session, holds a named
/// slot in websocket_wait_group() until it ends.
///
/// Threading: network work runs on the io_context's single thread. Listen/SetAiGatewayHandler/
/// StartAccepting are for start-up; the shutdown phases (Drain, CancelRequests, CloseWebSockets) and
/// Close() are thread-safe and block until the io thread has done their part. Close() is idempotent and
/// safe before start; the destructor calls it.
class HttpApi {
 public:
  struct Config {
    std::string session_token;
    size_t max_body_bytes = 1 << 20;     // larger: 413
    size_t max_header_bytes = 16 << 10;  // larger: 431
    /// A request's headers and body must arrive within this from its first byte, and a response must be
    /// taken within it; otherwise the connection is closed (a dribbling client cannot hold it).
    std::chrono::nanoseconds read_timeout = std::chrono::seconds(30);
    /// A keep-alive connection (or a new one) that sends nothing for this long is closed.
    std::chrono::nanoseconds idle_timeout = std::chrono::seconds(60);
    /// HTTP connections and WebSockets together. At the limit the oldest idle HTTP connection is closed
    /// to make room (as nginx reuses keep-alive connections); with none idle, up to kReserveConnections
    /// more are taken, each for one request with a short deadline, answered only on /healthz (503
    /// otherwise); past those, accepting pauses until a connection ends (the rest wait in the backlog).
    size_t max_connections = 10000;
  };
  static constexpr size_t kReserveConnections = 16;
  using TimePoint = std::chrono::steady_clock::time_point;

  HttpApi(boost::asio::io_context& ioc, Config config, NotificationsManager& notifications, Logger& log);
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  /// Binds and listens; returns the bound port (the real one when 0 was asked).
  Result<uint16_t> Listen(const std::string& host, uint16_t port);
  void SetAiGatewayHandler(AiGatewayHandler handler);
  /// What GET /api/v2/buildinfo answers; set before StartAccepting (it names the bound URL).
  void SetBuildInfo(nlohmann::json buildinfo);
  void StartAccepting();

  /// Opens an in-memory RPC session: a connected socket pair whose API end is served here and holds a
  /// wait-group slot until the client end closes. Thread-safe. Refused once the API is closed.
  Result<rpc::Socket> DialInMemoryRpc();

  /// Stops accepting, closes idle connections, and waits for in-flight requests until the deadline.
  /// Returns the requests still in flight then (empty when drained). Bytes a client sent before the drain
  /// are served, not reset: a connection still in the listen backlog, or an idle keep-alive connection,
  /// whose request has already arrived is answered once (with Connection: close) and counts as in flight.
  std::vector<std::string> Drain(TimePoint deadline);
  /// Cancels in-flight request contexts and closes their connections. Returns how many there were.
  size_t CancelRequests();
  /// Sends a close frame (1001 going away) to every WebSocket. Returns how many were open.
  size_t CloseWebSockets();
  WaitGroup& websocket_wait_group();

  void Close();

  /// One line per fact, for the SIGQUIT dump. Thread-safe.
  std::string DumpState() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace coder::server
