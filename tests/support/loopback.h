#pragma once

#include <sys/socket.h>

#include <cstdint>

namespace coder::test_support {

/// The loopback address of `family` (AF_INET or AF_INET6) with `port`, and its length.
socklen_t LoopbackAddress(int family, uint16_t port, sockaddr_storage& storage);

/// A listening socket on an ephemeral port of `family`'s loopback address, with a backlog of
/// `backlog`; -1 when the family is unavailable. The caller owns the descriptor.
int ListenOnLoopback(int family, uint16_t& port, int backlog = 4);

/// A TCP socket of `family` connected to the loopback address's `port`; -1 on failure. The caller owns
/// the descriptor.
int ConnectToLoopback(int family, uint16_t port);

}  // namespace coder::test_support
