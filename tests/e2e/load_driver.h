#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace coder::e2e::load {

using Clock = std::chrono::steady_clock;

/// A load on a running `coder server` that signals it mid-load and records, per request and per
/// WebSocket, what the server did with it.
struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string token;
  int websockets = 1000;     // watch clients, all upgraded before the HTTP load starts
  int http_connections = 8;  // keep-alive clients, each sending its next request once answered
  int post_every = 20;       // every Nth request is a POST /api/v2/notifications (0: none)
  /// The signal comes once both hold: this long of HTTP load, and this many answered requests.
  std::chrono::milliseconds load_before_signal{0};
  int requests_before_signal = 300;
  int max_handshakes_in_flight = 256;         // stays below the listen backlog
  std::chrono::milliseconds deadline{60000};  // for the whole run; whatever is still open then fails
  /// Sends the signal; called once, on the calling thread, right after the signal time is taken.
  std::function<void()> send_signal;
  /// Called on the calling thread once every WebSocket has been upgraded (or failed), as the HTTP load
  /// starts: where scripts/load starts wrk.
  std::function<void()> on_websockets_up;
};

enum class HttpOutcome {
  kComplete,    // a whole response
  kNoResponse,  // the connection ended before any byte of a response
  kTruncated,   // part of a response, then the connection ended
  kNotSent,     // the request could not be written
};

struct HttpRecord {
  int connection = 0;
  std::string method;
  bool new_connection = false;  // the first request on its connection
  Clock::time_point sent_at{};  // when its write had completed (the bytes were with the kernel)
  HttpOutcome outcome = HttpOutcome::kNotSent;
  unsigned status = 0;
  std::string error;
};

struct WebSocketRecord {
  bool upgraded = false;
  uint16_t close_code = 0;  // the code of the server's close frame; 0 if none came
  uint64_t messages = 0;
  std::string error;
};

struct Summary {
  size_t sent_before = 0, answered_before = 0;
  size_t sent_after = 0, answered_after = 0, unanswered_after = 0;
  size_t truncated = 0;
  size_t connect_refused_after = 0, connect_failed = 0;
  size_t websockets_up = 0, websockets_1001 = 0;
  uint64_t notifications_received = 0;
};

struct Report {
  Clock::time_point started_at{}, websockets_up_at{}, signal_at{};
  std::vector<HttpRecord> http;
  std::vector<WebSocketRecord> websockets;
  size_t connect_refused_after = 0;  // connects refused once the listener had closed: expected
  size_t connect_failed = 0;         // any other connect failure
  bool timed_out = false;            // the deadline passed with clients still running

  Summary Summarize() const;
  /// What broke the contract, one line each (at most `max`): a request sent before the signal without a
  /// whole, successful answer; any truncated answer; a WebSocket not upgraded or not closed with 1001;
  /// a connect failure that is not a refusal after the signal; the deadline.
  std::vector<std::string> Violations(size_t max = 20) const;
  /// The summary figures, one per line, for logs and scripts/load.
  std::string Describe() const;
};

/// Runs the load on its own io thread and returns once every client has ended (the server exited or
/// refused them) or at the deadline. Call from a thread that may block.
Report Run(const Options& options);

}  // namespace coder::e2e::load
