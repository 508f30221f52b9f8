#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/duration.h"
#include "common/result.h"
#include "server/log.h"

namespace coder::server {

/// patched closes the AI gateway daemon before waiting on the WebSocket wait group; unpatched keeps the
/// pre-fix order (daemon closed after the wait), which reproduces the 10 s tail.
enum class ShutdownOrder { kPatched, kUnpatched };
std::string_view ToString(ShutdownOrder order);

/// An http:// upstream the AI gateway proxies to.
struct UpstreamUrl {
  std::string host;
  uint16_t port = 80;
  std::string base_path;  // without a trailing slash; "" for the root
};

/// Validated server settings. Plain value type.
struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 3000;
  bool ai_gateway_enabled = true;
  std::optional<UpstreamUrl> ai_gateway_upstream;
  std::filesystem::path config_dir;
  ShutdownOrder shutdown_order = ShutdownOrder::kPatched;
  Duration websocket_shutdown_timeout = std::chrono::seconds(10);
  Duration http_drain_timeout = std::chrono::seconds(3);
  Duration notifications_drain_timeout = std::chrono::seconds(1);
  Duration http_read_timeout = std::chrono::seconds(30);  // a request, from its first byte; never 0
  Duration http_idle_timeout = std::chrono::seconds(60);  // a connection without a request; never 0
  LogFormat log_format = LogFormat::kHuman;
  size_t notifications_queue_size = 1024;
  /// HTTP connections and WebSockets served at once; 0: derived from RLIMIT_NOFILE at start-up.
  size_t max_connections = 0;
};

/// Flag values as text, exactly as given on the command line or in the environment. They are checked
/// here rather than by CLI11, because CLI11 2.1.2 validates env-backed options even when another
/// subcommand runs (a bad CODER_* variable would break `coder diag`).
struct ServerFlags {
  std::string http_address = "127.0.0.1:3000";
  std::string ai_gateway_enabled = "true";
  std::string ai_gateway_upstream_url;
  std::string config_dir;
  std::string shutdown_order = "patched";
  std::string websocket_shutdown_timeout = "10s";
  std::string http_drain_timeout = "3s";
  std::string notifications_drain_timeout = "1s";
  std::string http_read_timeout = "30s";
  std::string http_idle_timeout = "60s";
  std::string log_format = "human";
  std::string notifications_queue_size = "1024";
  std::string max_connections = "0";
};

/// Every error names the flag and its environment variable, quotes the value, and says what is valid.
Result<ServerOptions> ParseServerFlags(const ServerFlags& flags);

Result<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view text);
Result<bool> ParseBool(std::string_view text);
Result<UpstreamUrl> ParseUpstreamUrl(std::string_view text);

/// $XDG_CONFIG_HOME/coderv2, else $HOME/.config/coderv2, else ./.coderv2.
std::filesystem::path DefaultConfigDir();

}  // namespace coder::server
