#include "harness/process/socket_inventory.h"

#include <fmt/format.h>

#include <algorithm>
#include <future>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "harness/process/proc_fs.h"
#include "harness/process/proc_net.h"

namespace coder::harness {

SocketInventory SocketsOf(const std::vector<pid_t>& pids, size_t max_sockets) {
  SocketInventory out;
  if (pids.empty()) return out;
  // One read of the TCP table for the whole tree (a tree shares its namespace, as a server and its
  // workers do), taken on a thread of its own while this one reads the descriptors: each is about half
  // of the time with 10 000 sockets.
  std::future<std::vector<TcpSocketEntry>> tcp_table =
      std::async(std::launch::async, [pid = pids.front()] { return OwnableTcpSockets(pid); });
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
  const std::vector<TcpSocketEntry> tcp = tcp_table.get();
  if (found.empty()) return out;
  std::unordered_map<uint64_t, const TcpSocketEntry*> tcp_by_inode;
  for (const TcpSocketEntry& e : tcp) tcp_by_inode.emplace(e.inode, &e);
  std::unordered_map<uint64_t, const UnixSocketEntry*> unix_by_inode;
  std::vector<UnixSocketEntry> unix_sockets;
  if (auto text = ReadSmallFile(fmt::format("/proc/{}/net/unix", pids.front()))) unix_sockets = ParseUnixTable(*text);
  for (const UnixSocketEntry& e : unix_sockets) unix_by_inode.emplace(e.inode, &e);
  // Listeners first, then other TCP, unix, the rest: the question is usually what is still open that
  // keeps the stop waiting. Ranked from the tables' entries, and only the sockets kept get their
  // endpoints written out: with 10 000 sockets and 256 kept that is most of the formatting saved.
  struct Match {
    OpenSocket* socket;
    const TcpSocketEntry* tcp = nullptr;
    const UnixSocketEntry* unix_entry = nullptr;
    int rank = 3;
  };
  std::vector<Match> matches;
  matches.reserve(found.size());
  for (OpenSocket& s : found) {
    Match m{&s};
    if (auto t = tcp_by_inode.find(s.inode); t != tcp_by_inode.end()) {
      m.tcp = t->second;
      m.rank = m.tcp->listening() ? 0 : 1;
    } else if (auto u = unix_by_inode.find(s.inode); u != unix_by_inode.end()) {
      m.unix_entry = u->second;
      m.rank = 2;
    }
    matches.push_back(m);
  }
  std::stable_sort(matches.begin(), matches.end(), [](const Match& a, const Match& b) { return a.rank < b.rank; });
  if (matches.size() > max_sockets) {
    out.omitted = matches.size() - max_sockets;
    matches.resize(max_sockets);
  }
  out.sockets.reserve(matches.size());
  for (const Match& m : matches) {
    OpenSocket s = std::move(*m.socket);
    if (const TcpSocketEntry* e = m.tcp) {
      s.protocol = e->ipv6 ? "tcp6" : "tcp";
      s.state = TcpStateName(e->state);
      s.local = e->LocalEndpoint();
      if (!e->listening()) s.remote = e->RemoteEndpoint();
      s.rx_queue = e->rx_queue;
      s.tx_queue = e->tx_queue;
    } else if (const UnixSocketEntry* u = m.unix_entry) {
      s.protocol = "unix";
      s.state = u->state;
      s.local = u->path;
    }
    out.sockets.push_back(std::move(s));
  }
  return out;
}

}  // namespace coder::harness
