#include "tests/support/loopback.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

namespace coder::test_support {

socklen_t LoopbackAddress(int family, uint16_t port, sockaddr_storage& storage) {
  storage = {};
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&storage);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons(port);
    return sizeof *a;
  }
  auto* a = reinterpret_cast<sockaddr_in6*>(&storage);
  a->sin6_family = AF_INET6;
  a->sin6_addr = in6addr_loopback;
  a->sin6_port = htons(port);
  return sizeof *a;
}

int ListenOnLoopback(int family, uint16_t& port, int backlog) {
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_storage storage;
  socklen_t len = LoopbackAddress(family, 0, storage);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&storage), len) != 0 || ::listen(fd, backlog) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len) != 0) {
    ::close(fd);
    return -1;
  }
  port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&storage)->sin_port
                                 : reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
  return fd;
}

int ConnectToLoopback(int family, uint16_t port) {
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_storage to;
  const socklen_t len = LoopbackAddress(family, port, to);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), len) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace coder::test_support
