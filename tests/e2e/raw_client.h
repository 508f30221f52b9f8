#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace coder::e2e {

/// A plain TCP connection to 127.0.0.1 for tests that misbehave on purpose (dribble, stay silent, send
/// raw frames). Owns the descriptor; not thread-safe.
class RawConnection {
 public:
  /// Connects (blocking); check ok().
  explicit RawConnection(uint16_t port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  /// Sends everything; false once the peer has gone (EPIPE, reset).
  bool Send(std::string_view bytes);
  /// Non-blocking check: true while the peer has neither closed nor reset the connection and sent
  /// nothing (bytes it did send are appended to received()).
  bool StillOpen();
  /// Reads until the peer closes or resets, or `deadline`: true if it closed by then.
  bool WaitClosed(std::chrono::steady_clock::time_point deadline);
  const std::string& received() const { return received_; }

 private:
  int fd_ = -1;
  std::string received_;
};

/// A well-behaved client in the background: GET /healthz on a fresh connection, over and over (paced
/// by `interval`, at least once), counting answers. Thread-safe accessors; the destructor stops it.
class HealthProbe {
 public:
  HealthProbe(std::string host, uint16_t port, std::chrono::milliseconds interval = std::chrono::milliseconds(20));
  ~HealthProbe();
  /// Stops the probing (idempotent) and returns how many requests got 200.
  int Stop();
  int ok() const { return ok_; }
  int failed() const { return failed_; }
  std::string last_failure() const;

 private:
  const std::string host_;
  const uint16_t port_;
  const std::chrono::milliseconds interval_;
  std::atomic<int> ok_{0};
  std::atomic<int> failed_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::string last_failure_;
  std::thread thread_;
};

/// Completes a WebSocket upgrade on /api/v2/notifications/watch with Beast, then speaks raw bytes.
class RawWebSocket {
 public:
  /// `receive_buffer` > 0 sets SO_RCVBUF before connecting (a peer that can take little at a time).
  RawWebSocket(const std::string& host, uint16_t port, const std::string& token, int receive_buffer = 0);
  ~RawWebSocket();
  RawWebSocket(const RawWebSocket&) = delete;
  RawWebSocket& operator=(const RawWebSocket&) = delete;

  /// Empty once upgraded; else why not.
  const std::string& error() const { return error_; }
  /// The connected socket, for inspecting it (its local port); owned here.
  int fd() const;
  /// Writes raw bytes past the WebSocket layer (frames built by hand); false once the peer has gone.
  bool SendRaw(std::string_view bytes);
  /// Reads frames until the server's close frame (answering it) and returns its code; 0 if the
  /// connection ended without one or nothing came within `timeout`. Beast stops at a close frame, so
  /// data after it is never mistaken for one.
  uint16_t ReadCloseCode(std::chrono::milliseconds timeout);
  /// Reads whole messages until the connection ends or nothing comes within `timeout`, and returns them
  /// (what a peer that stopped reading still has in its buffers, once it reads again).
  std::vector<std::string> ReadMessages(std::chrono::milliseconds timeout);
  /// Why the last ReadCloseCode ended.
  const std::string& read_error() const { return read_error_; }

 private:
  struct Impl;
  Impl* impl_;
  std::string error_;
  std::string read_error_;
};

/// A client-to-server frame header: FIN, `opcode`, masked with `mask` (4 bytes) unless empty, with a
/// payload length of `length` (the 7-bit, 16-bit or 64-bit form, as the length needs).
std::string FrameHeader(uint8_t opcode, uint64_t length, std::string_view mask);

}  // namespace coder::e2e
