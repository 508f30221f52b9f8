#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace coder::bench {

/// How the sessions of a WatchClients ended.
struct CloseTally {
  int ended = 0;                                   ///< sessions whose read loop finished
  std::map<uint16_t, int> by_code;                 ///< close code the server sent (0: none, e.g. a reset) → sessions
  std::chrono::steady_clock::time_point last_end;  ///< when the last session to end did
};

/// Many clients of GET /api/v2/notifications/watch served by one io thread. Each keeps reading, so Beast
/// answers the server's close frame itself, and records the close code the server sent. The only
/// translation unit of the benches that includes Beast (each one costs ~20 s and ~1 GB to compile).
class WatchClients {
 public:
  /// Connects and upgrades `count` clients one after another (each holds a wait-group slot once its
  /// upgrade is answered), then starts reading. nullptr with `error` set if any of them failed.
  static std::unique_ptr<WatchClients> Connect(const std::string& host, uint16_t port, const std::string& token,
                                               int count, std::string* error);
  ~WatchClients();
  WatchClients(const WatchClients&) = delete;
  WatchClients& operator=(const WatchClients&) = delete;

  /// Waits until every session has ended or `deadline`, and tallies how they ended.
  CloseTally WaitAllEnded(std::chrono::steady_clock::time_point deadline);

 private:
  struct Impl;
  explicit WatchClients(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coder::bench
