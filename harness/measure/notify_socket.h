#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"

namespace coder::harness {

/// A systemd-style notification socket for one target (sd_notify(3)): a datagram socket whose address
/// the target finds in $NOTIFY_SOCKET and to which it sends "READY=1", "STOPPING=1", "STATUS=...".
///
/// The kernel stamps each datagram as it arrives (SO_TIMESTAMPNS), so the moments recorded are when the
/// target sent them, however late Drain() reads them. Bounded: a datagram is read into a fixed buffer
/// (longer ones are cut), and only the first occurrence of each state and the last STATUS are kept.
/// Not thread-safe: one owner. The socket file is removed on destruction.
class NotifySocket {
 public:
  /// Binds a socket at `dir`/notify (dir must be private to the run), or in the abstract namespace when
  /// that path is too long for a socket address. The Error says why it could not be made.
  static Result<std::unique_ptr<NotifySocket>> Open(const std::filesystem::path& dir);
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;
  ~NotifySocket();

  /// The value of NOTIFY_SOCKET for the target: a path, or "@name" for the abstract namespace.
  const std::string& address() const { return address_; }

  /// Reads the datagrams waiting, at most 256 a call, without blocking.
  void Drain();

  /// When READY=1 / STOPPING=1 first arrived (after Drain saw it).
  std::optional<std::chrono::steady_clock::time_point> ready_at() const { return ready_at_; }
  std::optional<std::chrono::steady_clock::time_point> stopping_at() const { return stopping_at_; }
  /// The last STATUS= text, bounded.
  const std::string& status() const { return status_; }
  /// Datagrams read so far.
  size_t datagrams() const { return datagrams_; }

 private:
  NotifySocket(int fd, std::string address, std::filesystem::path file)
      : fd_(fd), address_(std::move(address)), file_(std::move(file)) {}

  const int fd_;
  const std::string address_;
  const std::filesystem::path file_;  // empty for an abstract address
  std::optional<std::chrono::steady_clock::time_point> ready_at_;
  std::optional<std::chrono::steady_clock::time_point> stopping_at_;
  std::string status_;
  size_t datagrams_ = 0;
};

}  // namespace coder::harness
