#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace coder::harness {

/// One row of /proc/net/tcp or /proc/net/tcp6: a TCP socket of the network namespace.
struct TcpSocketEntry {
  std::string local_address;  ///< "127.0.0.1", "::", "::ffff:127.0.0.1"
  uint16_t local_port = 0;
  std::string remote_address;
  uint16_t remote_port = 0;
  int state = 0;          ///< the kernel's TCP state number (kTcpListen, kTcpEstablished, ...)
  uint64_t tx_queue = 0;  ///< bytes queued to send (for a listener: 0)
  uint64_t rx_queue = 0;  ///< bytes received and unread (for a listener: connections awaiting accept)
  uint64_t inode = 0;     ///< the socket's inode, as in /proc/PID/fd's "socket:[INODE]"
  bool ipv6 = false;

  bool listening() const;
  /// "127.0.0.1:8080", "[::]:8080".
  std::string LocalEndpoint() const;
  std::string RemoteEndpoint() const;
};

/// "127.0.0.1:8080" or, for an IPv6 address, "[::1]:8080": how every endpoint of the harness is written.
std::string EndpointText(const std::string& address, uint16_t port, bool ipv6);

/// One row of /proc/net/unix.
struct UnixSocketEntry {
  uint64_t inode = 0;
  std::string state;  ///< "LISTEN" (accepting), "CONNECTED", "UNCONNECTED", "CONNECTING", "DISCONNECTING"
  std::string path;   ///< "" unnamed; "@name" abstract
};
/// Parses the text of /proc/net/unix; rows that do not parse are skipped. Pure; thread-safe.
std::vector<UnixSocketEntry> ParseUnixTable(std::string_view text);

inline constexpr int kTcpEstablished = 0x01;
inline constexpr int kTcpListen = 0x0A;
inline constexpr int kTcpTimeWait = 0x06;
inline constexpr int kTcpNewSynRecv = 0x0C;
/// "ESTABLISHED", "LISTEN", "CLOSE_WAIT", ... ; "state 0x.." for a number the kernel does not define.
std::string TcpStateName(int state);

/// Parses the text of /proc/net/tcp (`ipv6` false) or /proc/net/tcp6 (true). Rows that do not parse
/// are skipped. Pure function; thread-safe.
std::vector<TcpSocketEntry> ParseTcpTable(std::string_view text, bool ipv6);

/// Every TCP socket of the network namespace `pid` lives in (/proc/PID/net/tcp and tcp6), IPv4 first.
/// Empty when the process is gone. Thread-safe.
std::vector<TcpSocketEntry> ReadTcpSockets(pid_t pid);

/// The TCP sockets in LISTEN of the network namespace `pid` lives in, IPv4 first. In the harness's own
/// namespace they come from the kernel's sock_diag netlink interface, asked for listeners only: reading
/// /proc/net/tcp walks every bucket of the established-connection hash table, which costs milliseconds
/// on a machine with much memory even when it holds nothing. In another namespace (or when netlink
/// fails) from /proc/PID/net/tcp and tcp6. Empty when the process is gone. Thread-safe.
std::vector<TcpSocketEntry> ListeningTcpSockets(pid_t pid);

/// The sockets of the harness's own network namespace whose state is in `states` (a mask of
/// 1 << kTcp* bits) through NETLINK_SOCK_DIAG, IPv4 first. An Error when netlink is unavailable.
/// Thread-safe.
Result<std::vector<TcpSocketEntry>> DiagTcpSockets(uint32_t states);

/// The other end of the TCP connection `fd` is one end of, looked up by its four-tuple through
/// NETLINK_SOCK_DIAG (one hash lookup, not a dump of the table): its `inode` is 0 while it waits in a
/// listener's accept queue, its `rx_queue` counts the bytes that arrived and its owner has not read.
/// nullopt when this network namespace has no such socket (the peer is elsewhere, or gone); an Error
/// when `fd` is not a connected TCP socket or netlink is unavailable. Thread-safe.
Result<std::optional<TcpSocketEntry>> DiagPeerOf(int fd);

/// Every TCP socket of the network namespace `pid` lives in that a descriptor can hold, IPv4 first:
/// every state but TIME_WAIT and NEW_SYN_RECV, which are the kernel's alone (inode 0), and of which a
/// machine that has run many stops holds tens of thousands. Through sock_diag in the harness's own
/// namespace, else (or when netlink fails) from /proc/PID/net/tcp and tcp6. Empty when the process is
/// gone. Thread-safe.
std::vector<TcpSocketEntry> OwnableTcpSockets(pid_t pid);

/// One descriptor of a process that is a socket: its number and the socket's inode.
struct SocketDescriptor {
  int fd = -1;
  uint64_t inode = 0;
};
/// The sockets `pid` holds open (its /proc/PID/fd links "socket:[N]"), in descriptor order. Empty when
/// the process is gone or its descriptors cannot be read. Thread-safe.
std::vector<SocketDescriptor> SocketDescriptors(pid_t pid);

/// The inodes of the sockets `pid` holds open (SocketDescriptors' inodes). Thread-safe.
std::set<uint64_t> SocketInodes(pid_t pid);

/// `root` and its live descendants (followed through /proc/PID/task/*/children), root first. Cheap
/// enough to call every few milliseconds; empty when `root` is gone. Thread-safe.
std::vector<pid_t> ProcessTree(pid_t root);

/// The TCP listeners whose socket one of `pids` holds, each once, in table order. Thread-safe.
std::vector<TcpSocketEntry> ListenersOf(const std::vector<pid_t>& pids);

}  // namespace coder::harness
