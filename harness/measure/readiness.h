#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "harness/measure/http_probe.h"

namespace coder::harness {

/// HOST:PORT, for --ready-tcp. An Error says what is wrong.
struct TcpAddress {
  std::string host;
  uint16_t port = 0;
};
Result<TcpAddress> ParseTcpAddress(const std::string& text);

/// Whether a TCP connection to `address` is accepted within `timeout`. Thread-safe.
bool TcpConnects(const TcpAddress& address, std::chrono::milliseconds timeout);

/// The probes of one run's readiness that /proc and the network answer (the log line and the notify
/// socket are observed by the run itself). Each Probe* call looks once and remembers what it saw, for
/// the never-ready message. Not thread-safe: one run's thread.
class ReadinessProbes {
 public:
  /// `listen`: a process of the tree must listen on TCP (on `listen_port` when set, the run's {port}
  /// when the target's arguments use it). `url` (http://, 2xx) and `tcp` (HOST:PORT, accepting) have
  /// {port} substituted; empty when unused. Both also require the tree to hold the listener.
  ReadinessProbes(pid_t root, bool listen, const std::string& url, const std::string& tcp,
                  std::optional<uint16_t> listen_port);

  /// The conditions that need polling (listen, url, tcp): true once every one of them has held. One
  /// HTTP or TCP attempt takes at most 1 s, and not past `deadline` (the ready timeout's). An HTTP
  /// attempt that `deadline` cut short and that ran out of time keeps what the attempt before it saw.
  bool PollOnce(std::chrono::steady_clock::time_point deadline);
  bool any() const { return listen_ || url_ || tcp_; }
  /// Whether PollOnce may block (up to a second an attempt): an HTTP GET or a TCP connect is asked for.
  bool may_block() const { return url_ || tcp_; }

  /// What the polled conditions waited for and what each last saw, e.g. "a TCP listener of the
  /// target's tree on port 4321 (last seen: the tree listens on 127.0.0.1:8080 only)".
  std::vector<std::string> Describe() const;

 private:
  struct Condition {
    std::string waited_for;
    std::string last_seen = "not probed yet";
    bool seen_by_attempt = false;  // last_seen is what an HTTP attempt met, not the listener check's
    bool held = false;
  };
  /// Whether the tree listens on `port` (any port when 0); sets `last_seen` otherwise.
  bool TreeListensOn(uint16_t port, std::string& last_seen) const;

  const pid_t root_;
  std::optional<uint16_t> listen_port_;
  std::optional<HttpUrl> parsed_url_;
  std::optional<TcpAddress> parsed_tcp_;
  std::optional<Condition> listen_, url_, tcp_;
};

}  // namespace coder::harness
