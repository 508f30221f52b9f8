#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace coder::harness {

/// One socket a process holds open, as the kernel's tables describe it (no ptrace).
struct OpenSocket {
  int pid = 0;
  int fd = -1;
  uint64_t inode = 0;
  std::string protocol;  ///< "tcp", "tcp6", "unix", or "other" (netlink, UDP, ...: only the inode is known)
  std::string state;   ///< TCP: "ESTABLISHED", "LISTEN", "CLOSE_WAIT", ...; unix: "LISTEN", "CONNECTED", "UNCONNECTED"
  std::string local;   ///< TCP: "127.0.0.1:8080", "[::1]:8080"; unix: its path, "@name" (abstract) or ""
  std::string remote;  ///< TCP: the peer's endpoint ("" for a listener); unix: ""
  uint64_t rx_queue = 0;  ///< TCP: bytes arrived and unread (a listener: connections awaiting accept)
  uint64_t tx_queue = 0;  ///< TCP: bytes not yet acknowledged by the peer
  std::string held_by;    ///< who holds the other end, when the caller knows (the harness's own clients)
  bool operator==(const OpenSocket&) const = default;
};

/// The open sockets of a process tree, and what was left out.
struct SocketInventory {
  std::vector<OpenSocket> sockets;  ///< TCP listeners, other TCP, unix, other; by pid and fd within each
  uint64_t omitted = 0;             ///< sockets past the limit, not listed
};

/// The sockets `pids` hold open, each with what the kernel's tables say of it: /proc/PID/fd for the
/// inodes, sock_diag (or /proc/PID/net/tcp, tcp6 in another network namespace) and /proc/PID/net/unix
/// for the rest. A socket two processes share (inherited) is listed once, under the first. At most
/// `max_sockets` listed. Thread-safe.
SocketInventory SocketsOf(const std::vector<pid_t>& pids, size_t max_sockets);

}  // namespace coder::harness
