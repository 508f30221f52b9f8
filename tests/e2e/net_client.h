#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace coder::e2e {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpReply {
  unsigned status = 0;  // 0 when no reply came; then `error` says why
  std::string body;
  std::string content_type;
  std::string error;
};

/// One HTTP/1.1 request on its own connection to 127.0.0.1, with a deadline on the whole exchange.
HttpReply HttpRequest(const std::string& host, uint16_t port, const std::string& method, const std::string& target,
                      const std::string& body = "", const Headers& headers = {},
                      std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// Sends raw bytes (malformed HTTP) and parses whatever HTTP reply comes back.
HttpReply SendRaw(const std::string& host, uint16_t port, const std::string& bytes,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// A client of GET /api/v2/notifications/watch. A background thread reads messages into a queue and
/// records the close code the server sends; sync reads answer the server's close frame themselves.
/// Thread-safe accessors; the destructor disconnects and joins.
class WatchClient {
 public:
  /// Connects and completes the upgrade; null with `error` set on failure.
  static std::unique_ptr<WatchClient> Connect(const std::string& host, uint16_t port, const std::string& token,
                                              std::string* error);
  ~WatchClient();

  std::optional<std::string> NextMessage(std::chrono::milliseconds timeout);
  /// The close code the server sent, once the session has ended; nullopt at the timeout.
  std::optional<uint16_t> WaitClosed(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  explicit WatchClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Sends one WebSocket message of `bytes` bytes to the watch endpoint and returns the close code the
/// server answers with (1009 for a message over its limit), or 0 if none came.
uint16_t SendWatchMessage(const std::string& host, uint16_t port, const std::string& token, size_t bytes);

}  // namespace coder::e2e
