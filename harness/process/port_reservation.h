#pragma once

#include <cstdint>

#include "common/result.h"

namespace coder::harness {

/// A TCP port on 127.0.0.1 that no other live run of this harness holds, for a run's {port}. The port
/// was free when chosen and stays reserved in this process until the reservation is destroyed (the run
/// ended), so concurrent runs never get the same port from the kernel's reuse of a port just freed.
/// Another program may still take it before the target binds it; that run then fails and says so.
/// Thread-safe (the registry is process-wide); move-only.
class PortReservation {
 public:
  /// An Error when no free port was found after many attempts.
  static Result<PortReservation> Reserve();
  PortReservation(PortReservation&& other) noexcept : port_(other.port_) { other.port_ = 0; }
  PortReservation& operator=(PortReservation&& other) noexcept;
  PortReservation(const PortReservation&) = delete;
  PortReservation& operator=(const PortReservation&) = delete;
  ~PortReservation() { Release(); }

  uint16_t port() const { return port_; }
  /// Gives the port back early; idempotent.
  void Release();

 private:
  explicit PortReservation(uint16_t port) : port_(port) {}
  uint16_t port_ = 0;
};

}  // namespace coder::harness
