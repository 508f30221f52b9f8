#include "server/options.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>

namespace coder::server {
namespace {

Error FlagError(std::string_view flag, std::string_view env, std::string_view value, std::string_view want) {
  return Error{fmt::format("invalid --{} ({}) \"{}\": {}", flag, env, value, want)};
}

Result<uint64_t> ParseUnsigned(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    return Error{fmt::format("\"{}\" is not a non-negative integer", text)};
  return value;
}

}  // namespace

std::string_view ToString(ShutdownOrder order) { return order == ShutdownOrder::kPatched ? "patched" : "unpatched"; }

Result<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view text) {
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return Error{"want HOST:PORT, such as 127.0.0.1:3000 or [::1]:3000"};
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return Error{"want HOST:PORT, such as 127.0.0.1:3000"};
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  if (host.empty()) return Error{"the host is empty; use 127.0.0.1 to serve on loopback"};
  if (host == "localhost") host = "127.0.0.1";
  auto port = ParseUnsigned(port_text);
  if (!port || *port > 65535) return Error{fmt::format("port \"{}\" is not a number from 0 to 65535", port_text)};
  return std::pair{host, static_cast<uint16_t>(*port)};
}

Result<bool> ParseBool(std::string_view text) {
  for (std::string_view t : {"true", "1", "yes", "on"})
    if (text == t) return true;
  for (std::string_view f : {"false", "0", "no", "off"})
    if (text == f) return false;
  return Error{"want true or false"};
}

Result<UpstreamUrl> ParseUpstreamUrl(std::string_view text) {
  constexpr std::string_view kScheme = "http://";
  if (text.substr(0, kScheme.size()) != kScheme)
    return Error{"want an http:// URL such as http://127.0.0.1:8080 (https upstreams are not supported)"};
  std::string_view rest = text.substr(kScheme.size());
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  UpstreamUrl url;
  if (slash != std::string_view::npos) url.base_path = std::string(rest.substr(slash));
  while (!url.base_path.empty() && url.base_path.back() == '/') url.base_path.pop_back();
  if (authority.find(':') == std::string_view::npos) {
    url.host = std::string(authority);
  } else {
    auto hp = ParseHostPort(authority);
    if (!hp) return hp.error();
    url.host = hp->first;
    url.port = hp->second;
  }
  if (url.host.empty()) return Error{"the URL has no host"};
  return url;
}

std::filesystem::path DefaultConfigDir() {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg != nullptr && *xdg != '\0')
    return std::filesystem::path(xdg) / "coderv2";
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0')
    return std::filesystem::path(home) / ".config" / "coderv2";
  return ".coderv2";
}

/// The timeouts of `flags` into `o`.
Status ParseDurationFlags(const ServerFlags& flags, ServerOptions& o) {
  struct DurationFlag {
    std::string_view flag, env;
    const std::string& value;
    Duration& out;
    bool positive = false;  // 0 would close every connection at once
  };
  for (const DurationFlag& d : {
           DurationFlag{"websocket-shutdown-timeout", "CODER_WEBSOCKET_SHUTDOWN_TIMEOUT",
                        flags.websocket_shutdown_timeout, o.websocket_shutdown_timeout},
           DurationFlag{"http-drain-timeout", "CODER_HTTP_DRAIN_TIMEOUT", flags.http_drain_timeout,
                        o.http_drain_timeout},
           DurationFlag{"notifications-drain-timeout", "CODER_NOTIFICATIONS_DRAIN_TIMEOUT",
                        flags.notifications_drain_timeout, o.notifications_drain_timeout},
           DurationFlag{"http-read-timeout", "CODER_HTTP_READ_TIMEOUT", flags.http_read_timeout, o.http_read_timeout,
                        true},
           DurationFlag{"http-idle-timeout", "CODER_HTTP_IDLE_TIMEOUT", flags.http_idle_timeout, o.http_idle_timeout,
                        true},
       }) {
    auto parsed = ParseDuration(d.value);
    if (!parsed) return FlagError(d.flag, d.env, d.value, parsed.error().message);
    if (d.positive && *parsed <= Duration::zero()) return FlagError(d.flag, d.env, d.value, "want a duration above 0");
    d.out = *parsed;
  }
  return Ok{};
}

Result<ServerOptions> ParseServerFlags(const ServerFlags& flags) {
  ServerOptions o;
  if (auto hp = ParseHostPort(flags.http_address)) {
    o.host = hp->first;
    o.port = hp->second;
  } else {
    return FlagError("http-address", "CODER_HTTP_ADDRESS", flags.http_address, hp.error().message);
  }
  if (auto b = ParseBool(flags.ai_gateway_enabled)) o.ai_gateway_enabled = *b;
  else return FlagError("ai-gateway-enabled", "CODER_AI_GATEWAY_ENABLED", flags.ai_gateway_enabled, b.error().message);

  if (!flags.ai_gateway_upstream_url.empty()) {
    auto url = ParseUpstreamUrl(flags.ai_gateway_upstream_url);
    if (!url)
      return FlagError("ai-gateway-upstream-url", "CODER_AI_GATEWAY_UPSTREAM_URL", flags.ai_gateway_upstream_url,
                       url.error().message);
    o.ai_gateway_upstream = *url;
  }
  o.config_dir = flags.config_dir.empty() ? DefaultConfigDir() : std::filesystem::path(flags.config_dir);

  if (flags.shutdown_order == "patched") o.shutdown_order = ShutdownOrder::kPatched;
  else if (flags.shutdown_order == "unpatched") o.shutdown_order = ShutdownOrder::kUnpatched;
  else return FlagError("shutdown-order", "CODER_SHUTDOWN_ORDER", flags.shutdown_order, "want patched or unpatched");

  if (auto durations = ParseDurationFlags(flags, o); !durations) return durations.error();

  if (flags.log_format == "human") o.log_format = LogFormat::kHuman;
  else if (flags.log_format == "json") o.log_format = LogFormat::kJson;
  else return FlagError("log-format", "CODER_LOG_FORMAT", flags.log_format, "want human or json");

  auto size = ParseUnsigned(flags.notifications_queue_size);
  if (!size || *size == 0 || *size > 1'000'000)
    return FlagError("notifications-queue-size", "CODER_NOTIFICATIONS_QUEUE_SIZE", flags.notifications_queue_size,
                     "want a whole number from 1 to 1000000");
  o.notifications_queue_size = *size;

  auto max_connections = ParseUnsigned(flags.max_connections);
  if (!max_connections || *max_connections > 10'000'000)
    return FlagError("max-connections", "CODER_MAX_CONNECTIONS", flags.max_connections,
                     "want a whole number up to 10000000 (0: derived from the open-file limit)");
  o.max_connections = *max_connections;
  return o;
}

}  // namespace coder::server
