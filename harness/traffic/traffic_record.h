#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// What the traffic of one run met, as plain values (the analysis layer's RunRecord holds them). Times
// are milliseconds from the stop signal unless named otherwise.
namespace coder::harness {

/// Where each request the harness tried ended: exactly one fate a request. docs/traffic.md says how
/// closed-before-read and dropped are told apart.
struct RequestFates {
  uint64_t answered_before = 0;     ///< answered whole before the stop signal
  uint64_t answered_after = 0;      ///< answered whole after it
  uint64_t refused = 0;             ///< connection refused after the signal: the listener had closed (expected)
  uint64_t closed_before_read = 0;  ///< the server closed the connection without reading it: safe to retry
  uint64_t dropped = 0;             ///< the server took it and never answered it whole
  uint64_t open_at_exit = 0;        ///< unanswered when the target's exit ended the run
  uint64_t open_at_watchdog = 0;    ///< unanswered when the watchdog fired
  uint64_t error = 0;               ///< anything else: refused before the signal, a malformed answer, ...
  /// Requests tried, counted as each began, apart from the fates: total() == tried is the check that
  /// each had exactly one.
  uint64_t tried = 0;

  /// The fates recorded (not `tried`).
  uint64_t total() const {
    return answered_before + answered_after + refused + closed_before_read + dropped + open_at_exit + open_at_watchdog +
           error;
  }
  RequestFates& operator+=(const RequestFates& other);
  bool operator==(const RequestFates&) const = default;
};

/// Where each held connection ended: exactly one fate a connection.
struct ConnectionFates {
  uint64_t not_established = 0;   ///< never confirmed before the signal (refused, closed, answered too soon)
  uint64_t closed = 0;            ///< closed by the server in order (FIN, or a WebSocket close frame) before its exit
  uint64_t reset = 0;             ///< reset by the server before its exit
  uint64_t open_at_exit = 0;      ///< open until the target exited (closed as it exited, or by its exit)
  uint64_t open_at_watchdog = 0;  ///< open when the watchdog fired

  uint64_t total() const { return not_established + closed + reset + open_at_exit + open_at_watchdog; }
  bool operator==(const ConnectionFates&) const = default;
};

/// Percentiles of request latencies, from the intended send time (so an open-loop schedule that fell
/// behind shows as latency, not as a lower rate only).
struct LatencySummary {
  uint64_t count = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  bool operator==(const LatencySummary&) const = default;
};

/// One --client group: COUNT connections of one kind to one path.
struct ClientGroupRecord {
  std::string kind;  ///< "idle", "silent", "inflight", "websocket"
  std::string path;
  uint64_t count = 0;
  uint64_t established = 0;  ///< confirmed before the signal
  ConnectionFates connections;
  RequestFates requests;  ///< idle: its first request; inflight: its request; none for silent and websocket
  std::map<int, uint64_t> websocket_close_codes;  ///< close code → connections (1006: closed without a close frame)
  /// Signal → the group's last connection closed; nullopt when one was open at the end (exit, watchdog).
  std::optional<double> last_closed_ms;
  std::string first_error;  ///< the first thing that went wrong, for the report; empty if none
  bool operator==(const ClientGroupRecord&) const = default;
};

/// The --load of one run.
struct LoadRecord {
  std::string path;
  std::optional<double> rate_per_s;  ///< as asked; nullopt for max
  uint64_t connections = 0;
  RequestFates requests;
  std::map<int, uint64_t> statuses;  ///< HTTP status → answers
  double duration_ms = 0;            ///< ready → the target's exit: how long the load ran
  double achieved_per_s = 0;         ///< requests sent per second over duration_ms
  LatencySummary before;             ///< answered before the signal
  LatencySummary during;             ///< answered after it: during the stop
  std::string first_error;
  bool operator==(const LoadRecord&) const = default;
};

/// Everything the run's traffic met.
struct TrafficRecord {
  std::string url;                         ///< the base the clients used, after substitution
  bool established = true;                 ///< every --client connection was confirmed before the signal
  std::string establish_detail;            ///< why not, naming the group; empty when established
  std::vector<ClientGroupRecord> clients;  ///< in --client order
  std::optional<LoadRecord> load;

  /// Every request's fates, the clients' and the load's together.
  RequestFates AllRequests() const;
  bool operator==(const TrafficRecord&) const = default;
};

}  // namespace coder::harness
