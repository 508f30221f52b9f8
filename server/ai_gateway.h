#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "server/api_types.h"
#include "server/log.h"
#include "server/options.h"
#include "server/rpc.h"

namespace boost::asio {
class io_context;
}

namespace coder::server {

/// The in-memory AI gateway daemon. It connects to the API over an in-memory RPC session (dialled through
/// `dialer`, retried with exponential back-off from 10 ms to 2 s), proxies POST /api/v2/aibridge/<provider>/...
/// to the upstream, and records each interception through that session. While its client session is open
/// the API holds a wait-group slot for it: closing the daemon is what releases that slot.
///
/// Threading: Handle() runs on the io thread. Start, WaitConnected, BeginShutdown, Close and DumpState are
/// thread-safe. Close() is idempotent and safe before Start(); it blocks until the io thread has closed
/// the session. The io_context must be running on its thread or stopped when Close() is called.
class AiGatewayDaemon {
 public:
  using Dialer = std::function<Result<rpc::Socket>()>;

  AiGatewayDaemon(boost::asio::io_context& ioc, Dialer dialer, std::optional<UpstreamUrl> upstream, Logger& log);
  ~AiGatewayDaemon();
  AiGatewayDaemon(const AiGatewayDaemon&) = delete;
  AiGatewayDaemon& operator=(const AiGatewayDaemon&) = delete;

  void Start();
  /// True once an RPC session is up; false if none came up by the deadline.
  bool WaitConnected(std::chrono::steady_clock::time_point deadline);
  /// From now on new requests get 503 "AI Gateway is shutting down"; in-flight ones complete.
  void BeginShutdown();
  void Close();

  boost::asio::awaitable<ApiResponse> Handle(ApiRequest request);

  std::string DumpState() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace coder::server
