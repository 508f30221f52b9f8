#pragma once

#include <cstdint>
#include <optional>

namespace coder::harness {

/// What the kernel said of a connection that ended before any byte of the answer to its request.
struct EofLooks {
  bool reset = false;         ///< the read ended with a reset, not a FIN
  uint32_t unacked = 0;       ///< bytes we sent that the server's TCP had not acknowledged (first TCP_INFO look)
  bool closed_after = false;  ///< a second look, after that count, found the socket closed (a reset followed)
  bool peer_seen = false;     ///< sock_diag found the server's end when the connection was made
  /// The server's end now, by sock_diag: its receive queue, or nullopt when no such socket exists.
  std::optional<uint64_t> peer_rx_queue;
};

/// Whether the server took the request (dropped) rather than never read it (closed-before-read): its
/// TCP acknowledged every byte and the connection ended in order, and its socket does not hold the
/// request unread. A close by a server that has not read what arrived is a reset (the kernel's rule
/// for unread data), which can reach our socket a moment after the server's socket is gone: a server's
/// end that sock_diag saw at connect and no longer finds was closed that way (an orderly close leaves
/// it in FIN_WAIT until we close ours). Where sock_diag never saw it (another network namespace), the
/// acknowledgement decides. Pure; thread-safe.
bool ServerTookRequest(const EofLooks& looks);

}  // namespace coder::harness
