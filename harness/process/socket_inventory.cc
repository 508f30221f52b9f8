#include "harness/process/socket_inventory.h"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "harness/process/proc_fs.h"
#include "harness/process/proc_net.h"

namespace coder::harness {
namespace {

// Which group a socket sorts into: listeners first, as the question is usually "what is still open
// that keeps the stop waiting".
int Rank(const OpenSocket& s) {
  if (s.protocol == "tcp" || s.protocol == "tcp6") return s.state == "LISTEN" ? 0 : 1;
  return s.protocol == "unix" ? 2 : 3;
}

}  // namespace

SocketInventory SocketsOf(const std::vector<pid_t>& pids, size_t max_sockets) {
  SocketInventory out;
  if (pids.empty()) return out;
  std::vector<OpenSocket> found;
  std::unordered_set<uint64_t> seen;
  for (pid_t pid : pids) {
    for (const SocketDescriptor& d : SocketDescriptors(pid)) {
      if (!seen.insert(d.inode).second) continue;
      OpenSocket s;
      s.pid = pid;
      s.fd = d.fd;
      s.inode = d.inode;
      s.protocol = "other";
      found.push_back(std::move(s));
    }
  }
  if (found.empty()) return out;
  // One read of each table for the whole tree: a tree shares its namespace, as a server and its workers do.
  std::unordered_map<uint64_t, const TcpSocketEntry*> tcp_by_inode;
  const std::vector<TcpSocketEntry> tcp = AllTcpSockets(pids.front());
  for (const TcpSocketEntry& e : tcp) tcp_by_inode.emplace(e.inode, &e);
  std::unordered_map<uint64_t, const UnixSocketEntry*> unix_by_inode;
  std::vector<UnixSocketEntry> unix_sockets;
  if (auto text = ReadSmallFile(fmt::format("/proc/{}/net/unix", pids.front()))) unix_sockets = ParseUnixTable(*text);
  for (const UnixSocketEntry& e : unix_sockets) unix_by_inode.emplace(e.inode, &e);
  for (OpenSocket& s : found) {
    if (auto t = tcp_by_inode.find(s.inode); t != tcp_by_inode.end()) {
      const TcpSocketEntry& e = *t->second;
      s.protocol = e.ipv6 ? "tcp6" : "tcp";
      s.state = TcpStateName(e.state);
      s.local = e.LocalEndpoint();
      if (!e.listening()) s.remote = e.RemoteEndpoint();
      s.rx_queue = e.rx_queue;
      s.tx_queue = e.tx_queue;
    } else if (auto u = unix_by_inode.find(s.inode); u != unix_by_inode.end()) {
      s.protocol = "unix";
      s.state = u->second->state;
      s.local = u->second->path;
    }
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const OpenSocket& a, const OpenSocket& b) { return Rank(a) < Rank(b); });
  if (found.size() > max_sockets) {
    out.omitted = found.size() - max_sockets;
    found.resize(max_sockets);
  }
  out.sockets = std::move(found);
  return out;
}

}  // namespace coder::harness
