#include "harness/process/port_reservation.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <unordered_set>

namespace coder::harness {
namespace {

std::mutex& RegistryMutex() {
  static std::mutex mu;
  return mu;
}
std::unordered_set<uint16_t>& Reserved() {
  static std::unordered_set<uint16_t> ports;
  return ports;
}

/// A port the kernel would hand out on 127.0.0.1 now (bind to port 0), or 0.
uint16_t KernelFreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

}  // namespace

Result<PortReservation> PortReservation::Reserve() {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const uint16_t port = KernelFreePort();
    if (port == 0) continue;
    std::lock_guard lock(RegistryMutex());
    // Free for the kernel, yet perhaps handed to a run whose target has not bound it yet.
    if (Reserved().insert(port).second) return PortReservation(port);
  }
  return Error{"no free TCP port on 127.0.0.1 for {port}"};
}

PortReservation& PortReservation::operator=(PortReservation&& other) noexcept {
  if (this != &other) {
    Release();
    port_ = other.port_;
    other.port_ = 0;
  }
  return *this;
}

void PortReservation::Release() {
  if (port_ == 0) return;
  std::lock_guard lock(RegistryMutex());
  Reserved().erase(port_);
  port_ = 0;
}

}  // namespace coder::harness
