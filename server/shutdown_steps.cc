#include "server/shutdown_steps.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace coder::server {

std::string SecondsText(Duration d) { return fmt::format("{:g} seconds", ToSeconds(d)); }

namespace {

ShutdownStep ApiDrainStep(const ServerOptions& options, ShutdownTargets& targets, Logger& log) {
  return {kStepApiDrain, options.http_drain_timeout, [&targets, &log](Clock::TimePoint deadline) {
            log.Info("Shutting down API server...");
            const auto left = targets.DrainHttp(deadline);
            if (left.empty()) {
              log.Info("Gracefully shut down API server");
              return StepResult{};
            }
            log.Warn("API server drain timed out; cancelling the requests still in flight",
                     {{"in_flight", fmt::format("{}", fmt::join(left, ", "))}});
            return StepResult{false, fmt::format("{} requests still in flight", left.size())};
          }};
}

ShutdownStep CancelRequestsStep(ShutdownTargets& targets, Logger& log) {
  return {kStepCancelRequests, std::chrono::seconds(1), [&targets, &log](Clock::TimePoint) {
            if (const size_t n = targets.CancelRequests(); n > 0)
              log.Warn("cancelled in-flight requests", {{"count", n}});
            return StepResult{};
          }};
}

ShutdownStep NotificationsStep(const ServerOptions& options, ShutdownTargets& targets, Logger& log) {
  return {kStepNotifications, options.notifications_drain_timeout, [&targets, &log](Clock::TimePoint deadline) {
            auto kept = targets.CloseNotifications(deadline);
            if (!kept) {
              log.Error("closing the notifications manager failed", {{"error", kept.error().message}});
              return StepResult{false, kept.error().message};
            }
            log.Info("Closed notifications manager", {{"kept_for_next_start", *kept}});
            return StepResult{};
          }};
}

ShutdownStep AiGatewayStep(ShutdownTargets& targets, Logger& log) {
  return {kStepAiGateway, std::chrono::seconds(5), [&targets, &log](Clock::TimePoint) {
            targets.CloseAiGateway();
            log.Info("Closed AI gateway daemon");
            return StepResult{};
          }};
}

ShutdownStep WebSocketWaitStep(const ServerOptions& options, ShutdownTargets& targets, Logger& log) {
  const std::string timeout_text = SecondsText(options.websocket_shutdown_timeout);
  return {kStepWebSocketWait, options.websocket_shutdown_timeout,
          [&targets, &log, timeout_text](Clock::TimePoint deadline) {
            log.Info("Waiting for WebSocket connections to close...");
            targets.CloseWebSockets();
            const auto held = targets.WaitWebSockets(deadline);
            if (held.empty()) {
              log.Info("Done waiting for WebSocket connections");
              return StepResult{};
            }
            log.Warn(fmt::format("websocket shutdown timed out after {}", timeout_text),
                     {{"held", fmt::format("{}", fmt::join(held, ", "))}, {"held_count", held.size()}});
            return StepResult{false, fmt::format("{} wait-group slots still held", held.size())};
          }};
}

}  // namespace

std::vector<ShutdownStep> BuildShutdownSteps(const ServerOptions& options, ShutdownTargets& targets, Logger& log) {
  std::vector<ShutdownStep> steps;
  // Stop taking work first, so nothing new arrives while the rest closes.
  steps.push_back(ApiDrainStep(options, targets, log));
  // The drain had its chance; what is left would otherwise run past the process.
  steps.push_back(CancelRequestsStep(targets, log));
  // Before the WebSockets close: watchers are still connected to take what is pending.
  steps.push_back(NotificationsStep(options, targets, log));
  if (!options.ai_gateway_enabled) {
    steps.push_back(WebSocketWaitStep(options, targets, log));
  } else if (options.shutdown_order == ShutdownOrder::kPatched) {
    // The gateway's RPC session holds a slot in the WebSocket wait group and nothing else closes it:
    // close the daemon first, or the wait below runs to its full timeout on every stop.
    steps.push_back(AiGatewayStep(targets, log));
    steps.push_back(WebSocketWaitStep(options, targets, log));
  } else {
    // The pre-fix order, kept to reproduce and measure the tail: the wait times out on the gateway's slot.
    steps.push_back(WebSocketWaitStep(options, targets, log));
    steps.push_back(AiGatewayStep(targets, log));
  }
  return steps;
}

}  // namespace coder::server
