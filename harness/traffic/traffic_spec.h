#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

// What traffic a run sends its target, as `coder diag shutdown`'s flags state it: held client
// connections (--client), an open-loop load (--load) and where they go (--client-url, --client-header).
namespace coder::harness {

/// What one held client connection does before the stop signal.
enum class ClientKind {
  kIdle,       ///< keep-alive: one request answered, then idle
  kSilent,     ///< TCP connected, nothing sent
  kInflight,   ///< a request whose answer is not read until the signal (a slow endpoint, a download)
  kWebsocket,  ///< upgraded (101), held open, waiting for the server's close frame
};
/// "idle", "silent", "inflight", "websocket".
std::string_view ToString(ClientKind kind);
std::optional<ClientKind> ClientKindFromString(std::string_view text);

/// `--client KIND:COUNT[:PATH]`: COUNT connections of one kind. PATH defaults to "/".
struct ClientSpec {
  ClientKind kind = ClientKind::kIdle;
  uint32_t count = 1;
  std::string path = "/";
  bool operator==(const ClientSpec&) const = default;
};

/// `--load RATE/s:PATH` or `--load max:PATH`, over `--load-connections` keep-alive connections.
struct LoadSpec {
  std::optional<double> rate_per_s;  ///< nullopt: as fast as the connections allow (max)
  std::string path = "/";
  uint32_t connections = 8;
  bool operator==(const LoadSpec&) const = default;
};

/// Where the traffic goes: `--client-url BASE`, split. Only http:// (and ws:// for the same server).
struct ClientUrl {
  std::string host;  ///< as given: an IP address or a name to resolve
  std::string port;  ///< "80" when the URL names none
  bool operator==(const ClientUrl&) const = default;
};

/// The traffic of every run of an experiment. Empty (any() false) without --client and --load.
struct TrafficSpec {
  std::vector<ClientSpec> clients;
  std::optional<LoadSpec> load;
  /// --client-url as given, {port} and {dir} not yet substituted; empty: the default (the origin of
  /// --ready-url, else http://127.0.0.1:{port}, else what the built-in server's ready line says).
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  ///< --client-header NAME:VALUE, in order
  /// How long the clients may take to be established (connected, answered, upgraded) after ready.
  std::chrono::milliseconds establish_timeout{10'000};

  bool any() const { return !clients.empty() || load.has_value(); }
  uint64_t held_connections() const;
};

/// The most connections one run may hold (--client counts and --load-connections together): each is
/// a descriptor of the harness, and a typo of a zero must not exhaust them.
inline constexpr uint64_t kMaxTrafficConnections = 100'000;

/// Parses `KIND:COUNT[:PATH]`; an Error says what is wrong and what is accepted. A websocket without
/// a PATH goes to `websocket_path` (the target's known endpoint, if any), the others to "/".
Result<ClientSpec> ParseClientFlag(std::string_view text, std::string_view websocket_path = "/");
/// Parses `RATE/s:PATH` or `max:PATH` (PATH optional, default "/"); connections are set apart.
Result<LoadSpec> ParseLoadFlag(std::string_view text);
/// Parses `NAME:VALUE` (the value's leading blanks dropped); an Error for a bad header name, or a
/// name or value with a control character (a header injected into the request).
Result<std::pair<std::string, std::string>> ParseHeaderFlag(std::string_view text);
/// Parses `http://HOST[:PORT][/...]` or `ws://...` after substitution; a path after the origin is
/// ignored (paths come with each --client and --load). `[::1]` style IPv6 hosts are accepted.
Result<ClientUrl> ParseClientUrl(std::string_view text);
/// The origin of an http URL ("http://127.0.0.1:8080/healthz" → "http://127.0.0.1:8080"); "" when it
/// is not one.
std::string OriginOf(std::string_view url);

}  // namespace coder::harness
