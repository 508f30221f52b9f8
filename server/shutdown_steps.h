#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "server/log.h"
#include "server/options.h"
#include "server/shutdown_plan.h"

namespace coder::server {

/// What graceful shutdown acts on: the server's components behind one seam, so the plan can be tested
/// with fakes. Every method must return by the deadline it is given.
class ShutdownTargets {
 public:
  virtual ~ShutdownTargets() = default;
  /// Stops accepting and waits for in-flight HTTP requests; returns the ones still running at the deadline.
  virtual std::vector<std::string> DrainHttp(Clock::TimePoint deadline) = 0;
  /// Cancels what the drain left; returns how many requests that was.
  virtual size_t CancelRequests() = 0;
  /// Drains the notifications manager and keeps what is undelivered; returns how many were kept.
  virtual Result<size_t> CloseNotifications(Clock::TimePoint deadline) = 0;
  /// Closes the AI gateway daemon: its RPC session ends and the API releases its wait-group slot.
  virtual void CloseAiGateway() = 0;
  /// Sends a close frame to every WebSocket; returns how many.
  virtual size_t CloseWebSockets() = 0;
  /// Waits on the API's WebSocket wait group; returns the slots still held at the deadline.
  virtual std::vector<std::string> WaitWebSockets(Clock::TimePoint deadline) = 0;
};

/// Step names, also the `step=` values in the log that the harness reads.
inline constexpr const char* kStepApiDrain = "api-drain";
inline constexpr const char* kStepCancelRequests = "cancel-requests";
inline constexpr const char* kStepNotifications = "notifications";
inline constexpr const char* kStepAiGateway = "ai-gateway";
inline constexpr const char* kStepWebSocketWait = "websocket-wait";

/// The graceful shutdown as data, in `options.shutdown_order`: patched closes the AI gateway before the
/// WebSocket wait; unpatched after it (the pre-fix order). Without the gateway its step is left out.
/// `targets` and `log` must outlive the returned steps.
std::vector<ShutdownStep> BuildShutdownSteps(const ServerOptions& options, ShutdownTargets& targets, Logger& log);

/// "10 seconds", "0.5 seconds": the timeout as the warning line states it.
std::string SecondsText(Duration d);

}  // namespace coder::server
