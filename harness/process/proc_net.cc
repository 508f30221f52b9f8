#include "harness/process/proc_net.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fmt/format.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <unordered_set>
#include <utility>

#include "harness/process/proc_fs.h"

namespace coder::harness {
namespace {

template <class T>
bool ParseHex(std::string_view text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, 16);
  return ec == std::errc() && end == text.data() + text.size();
}
template <class T>
bool ParseDecimal(std::string_view text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// The kernel prints each 32-bit word of the address in host byte order ("%08X" of the stored value),
// so copying the parsed words back into memory restores the network-order bytes.
bool ParseAddress(std::string_view hex, bool ipv6, std::string& out) {
  const size_t words = ipv6 ? 4 : 1;
  if (hex.size() != words * 8) return false;
  uint32_t raw[4] = {};
  for (size_t i = 0; i < words; ++i)
    if (!ParseHex(hex.substr(i * 8, 8), raw[i])) return false;
  char text[INET6_ADDRSTRLEN] = {};
  if (ipv6) {
    in6_addr a;
    std::memcpy(&a, raw, sizeof a);
    if (inet_ntop(AF_INET6, &a, text, sizeof text) == nullptr) return false;
  } else {
    in_addr a;
    std::memcpy(&a, raw, sizeof a);
    if (inet_ntop(AF_INET, &a, text, sizeof text) == nullptr) return false;
  }
  out = text;
  return true;
}

bool ParseEndpoint(std::string_view field, bool ipv6, std::string& address, uint16_t& port) {
  const auto colon = field.find(':');
  if (colon == std::string_view::npos) return false;
  return ParseAddress(field.substr(0, colon), ipv6, address) && ParseHex(field.substr(colon + 1), port);
}

/// The space-separated fields of `line`; with `max`, the last of them is the rest of the line (a unix
/// socket's path may hold spaces).
std::vector<std::string_view> Fields(std::string_view line, size_t max = std::string_view::npos) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size() && out.size() < max) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i == line.size()) break;
    const size_t end = out.size() + 1 == max ? line.size() : std::min(line.find(' ', i), line.size());
    out.push_back(line.substr(i, end - i));
    i = end;
  }
  return out;
}

/// Calls `row` on each line of a /proc/net table after its header line.
template <class Row>
void ForEachRow(std::string_view text, Row row) {
  bool header = true;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!std::exchange(header, false)) row(line);
  }
}

std::string AddressText(int family, const uint32_t* words) {
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(family, words, text, sizeof text) == nullptr) return "?";
  return text;
}

TcpSocketEntry EntryOf(const inet_diag_msg& d) {
  TcpSocketEntry e;
  e.ipv6 = d.idiag_family == AF_INET6;
  e.local_address = AddressText(d.idiag_family, d.id.idiag_src);
  e.local_port = ntohs(d.id.idiag_sport);
  e.remote_address = AddressText(d.idiag_family, d.id.idiag_dst);
  e.remote_port = ntohs(d.id.idiag_dport);
  e.state = d.idiag_state;
  // As /proc/net/tcp has it: a listener's receive queue is its accept queue, its send queue 0 (the
  // netlink reply puts the backlog limit there).
  e.rx_queue = d.idiag_rqueue;
  e.tx_queue = e.state == kTcpListen ? 0 : d.idiag_wqueue;
  e.inode = d.idiag_inode;
  return e;
}

/// A sock_diag request for TCP sockets of `family`; the caller fills in what it asks for.
struct DiagRequest {
  nlmsghdr header;
  inet_diag_req_v2 request;
};
DiagRequest MakeDiagRequest(uint8_t family, uint16_t flags, uint32_t seq) {
  DiagRequest message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = flags;
  message.header.nlmsg_seq = seq;
  message.request.sdiag_family = family;
  message.request.sdiag_protocol = IPPROTO_TCP;
  return message;
}
Status SendDiagRequest(int fd, const DiagRequest& message) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, &message, sizeof message, 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel) < 0)
    return Error{fmt::format("sock_diag request: {}", std::strerror(errno))};
  return Ok{};
}

/// One dump request of one address family; appends what it answers to `out`.
Status DiagDump(int fd, uint8_t family, uint32_t states, uint32_t seq, std::vector<TcpSocketEntry>& out) {
  DiagRequest message = MakeDiagRequest(family, NLM_F_REQUEST | NLM_F_DUMP, seq);
  message.request.idiag_states = states;
  if (Status sent = SendDiagRequest(fd, message); !sent) return sent;
  alignas(nlmsghdr) char buffer[32 << 10];
  for (;;) {
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error{fmt::format("sock_diag reply: {}", std::strerror(errno))};
    }
    if (n == 0) return Error{"sock_diag reply: end of stream"};
    // NLMSG_OK and NLMSG_NEXT compare a u32 with an int (clang's -Wsign-compare); the same walk with sizes.
    const size_t received = static_cast<size_t>(n);
    for (size_t at = 0, len = 0; at + sizeof(nlmsghdr) <= received; at += NLMSG_ALIGN(len)) {
      const auto* h = reinterpret_cast<const nlmsghdr*>(buffer + at);
      len = h->nlmsg_len;
      if (len < sizeof(nlmsghdr) || len > received - at) break;
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_DONE) return Ok{};
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        return Error{fmt::format("sock_diag: {}", std::strerror(-e->error))};
      }
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
      out.push_back(EntryOf(*static_cast<const inet_diag_msg*>(NLMSG_DATA(h))));
    }
  }
}

bool SameNetworkNamespace(pid_t pid) {
  // The harness never changes its own namespace: looked up once, not at every probe.
  static const std::optional<std::pair<dev_t, ino_t>> own = []() -> std::optional<std::pair<dev_t, ino_t>> {
    struct stat st {};
    if (stat("/proc/self/ns/net", &st) != 0) return std::nullopt;
    return std::pair(st.st_dev, st.st_ino);
  }();
  struct stat theirs {};
  if (!own || stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &theirs) != 0) return false;
  return own->first == theirs.st_dev && own->second == theirs.st_ino;
}

}  // namespace

bool TcpSocketEntry::listening() const { return state == kTcpListen; }
std::string EndpointText(const std::string& address, uint16_t port, bool ipv6) {
  return ipv6 ? fmt::format("[{}]:{}", address, port) : fmt::format("{}:{}", address, port);
}
std::string TcpSocketEntry::LocalEndpoint() const { return EndpointText(local_address, local_port, ipv6); }
std::string TcpSocketEntry::RemoteEndpoint() const { return EndpointText(remote_address, remote_port, ipv6); }

std::string TcpStateName(int state) {
  static const char* const kNames[] = {"",          "ESTABLISHED", "SYN_SENT",    "SYN_RECV",   "FIN_WAIT1",
                                       "FIN_WAIT2", "TIME_WAIT",   "CLOSE",       "CLOSE_WAIT", "LAST_ACK",
                                       "LISTEN",    "CLOSING",     "NEW_SYN_RECV"};
  if (state > 0 && state < static_cast<int>(std::size(kNames))) return kNames[state];
  return fmt::format("state 0x{:02X}", state);
}

std::vector<TcpSocketEntry> ParseTcpTable(std::string_view text, bool ipv6) {
  std::vector<TcpSocketEntry> out;
  // After the header "  sl  local_address rem_address   st tx_queue rx_queue ...":
  // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
  ForEachRow(text, [&](std::string_view line) {
    const auto f = Fields(line);
    if (f.size() < 10) return;
    TcpSocketEntry e;
    e.ipv6 = ipv6;
    const auto queues = f[4].find(':');
    if (!ParseEndpoint(f[1], ipv6, e.local_address, e.local_port) ||
        !ParseEndpoint(f[2], ipv6, e.remote_address, e.remote_port) || !ParseHex(f[3], e.state) ||
        queues == std::string_view::npos || !ParseHex(f[4].substr(0, queues), e.tx_queue) ||
        !ParseHex(f[4].substr(queues + 1), e.rx_queue) || !ParseDecimal(f[9], e.inode))
      return;
    out.push_back(std::move(e));
  });
  return out;
}

std::vector<UnixSocketEntry> ParseUnixTable(std::string_view text) {
  // "Num RefCount Protocol Flags Type St Inode Path"; Flags 00010000 is __SO_ACCEPTCON, a listener.
  static const char* const kStates[] = {"UNCONNECTED", "UNCONNECTED", "CONNECTING", "CONNECTED", "DISCONNECTING"};
  std::vector<UnixSocketEntry> out;
  ForEachRow(text, [&](std::string_view line) {
    const auto f = Fields(line, 8);
    uint32_t flags = 0, state = 0;
    UnixSocketEntry e;
    if (f.size() < 7 || !ParseHex(f[3], flags) || !ParseHex(f[5], state) || !ParseDecimal(f[6], e.inode)) return;
    e.state = (flags & 0x10000u) != 0 ? "LISTEN" : state < std::size(kStates) ? kStates[state] : "UNKNOWN";
    if (f.size() == 8) e.path = std::string(f[7]);
    out.push_back(std::move(e));
  });
  return out;
}

std::vector<TcpSocketEntry> ReadTcpSockets(pid_t pid) {
  std::vector<TcpSocketEntry> out;
  const std::string base = "/proc/" + std::to_string(pid) + "/net/";
  for (bool ipv6 : {false, true}) {
    // Tables of many sockets exceed one read; ReadSmallFile reads a whole file.
    if (auto text = ReadSmallFile(base + (ipv6 ? "tcp6" : "tcp"))) {
      auto rows = ParseTcpTable(*text, ipv6);
      out.insert(out.end(), std::make_move_iterator(rows.begin()), std::make_move_iterator(rows.end()));
    }
  }
  return out;
}

Result<std::vector<TcpSocketEntry>> DiagTcpSockets(uint32_t states) {
  const int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return Error{fmt::format("sock_diag socket: {}", std::strerror(errno))};
  std::vector<TcpSocketEntry> out;
  Status dumped = DiagDump(fd, AF_INET, states, 1, out);
  if (dumped) dumped = DiagDump(fd, AF_INET6, states, 2, out);
  close(fd);
  if (!dumped) return dumped.error();
  return out;
}

Result<std::optional<TcpSocketEntry>> DiagPeerOf(int fd) {
  sockaddr_storage mine{};
  sockaddr_storage theirs{};
  socklen_t mine_len = sizeof mine;
  socklen_t theirs_len = sizeof theirs;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&mine), &mine_len) != 0 ||
      getpeername(fd, reinterpret_cast<sockaddr*>(&theirs), &theirs_len) != 0)
    return Error{fmt::format("not a connected socket: {}", std::strerror(errno))};
  if (mine.ss_family != theirs.ss_family || (mine.ss_family != AF_INET && mine.ss_family != AF_INET6))
    return Error{"not an IPv4 or IPv6 connection"};
  // One socket, by its four-tuple: no dump.
  DiagRequest message = MakeDiagRequest(static_cast<uint8_t>(mine.ss_family), NLM_F_REQUEST, 1);
  message.request.idiag_states = ~0u;
  inet_diag_sockid& id = message.request.id;
  id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  // The peer's socket: its source is our destination.
  if (mine.ss_family == AF_INET) {
    const auto& me = reinterpret_cast<const sockaddr_in&>(mine);
    const auto& peer = reinterpret_cast<const sockaddr_in&>(theirs);
    id.idiag_sport = peer.sin_port;
    id.idiag_dport = me.sin_port;
    std::memcpy(id.idiag_src, &peer.sin_addr, sizeof peer.sin_addr);
    std::memcpy(id.idiag_dst, &me.sin_addr, sizeof me.sin_addr);
  } else {
    const auto& me = reinterpret_cast<const sockaddr_in6&>(mine);
    const auto& peer = reinterpret_cast<const sockaddr_in6&>(theirs);
    id.idiag_sport = peer.sin6_port;
    id.idiag_dport = me.sin6_port;
    std::memcpy(id.idiag_src, &peer.sin6_addr, sizeof peer.sin6_addr);
    std::memcpy(id.idiag_dst, &me.sin6_addr, sizeof me.sin6_addr);
  }
  const int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (nl < 0) return Error{fmt::format("sock_diag socket: {}", std::strerror(errno))};
  if (Status sent = SendDiagRequest(nl, message); !sent) {
    close(nl);
    return sent.error();
  }
  alignas(nlmsghdr) char buffer[4096];
  ssize_t n = 0;
  do n = recv(nl, buffer, sizeof buffer, 0);
  while (n < 0 && errno == EINTR);
  const int err = errno;
  close(nl);
  if (n < 0) return Error{fmt::format("sock_diag reply: {}", std::strerror(err))};
  const auto* h = reinterpret_cast<const nlmsghdr*>(buffer);
  if (static_cast<size_t>(n) < sizeof(nlmsghdr) || h->nlmsg_len > static_cast<size_t>(n))
    return Error{"sock_diag reply: truncated"};
  if (h->nlmsg_type == NLMSG_ERROR) {
    const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
    if (e->error == -ENOENT) return std::optional<TcpSocketEntry>();
    return Error{fmt::format("sock_diag: {}", std::strerror(-e->error))};
  }
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) return Error{"sock_diag reply: too short"};
  return std::optional<TcpSocketEntry>(EntryOf(*static_cast<const inet_diag_msg*>(NLMSG_DATA(h))));
}

namespace {

/// The TCP sockets of `pid`'s namespace whose state is in `states` (1 << kTcp* bits).
std::vector<TcpSocketEntry> TcpSocketsIn(pid_t pid, uint32_t states) {
  if (SameNetworkNamespace(pid)) {
    if (auto sockets = DiagTcpSockets(states)) return std::move(*sockets);
  }
  std::vector<TcpSocketEntry> out;
  for (auto& e : ReadTcpSockets(pid))
    if (e.state >= 0 && e.state < 32 && ((states >> e.state) & 1u)) out.push_back(std::move(e));
  return out;
}

}  // namespace

std::vector<TcpSocketEntry> ListeningTcpSockets(pid_t pid) { return TcpSocketsIn(pid, 1u << kTcpListen); }
std::vector<TcpSocketEntry> OwnableTcpSockets(pid_t pid) {
  return TcpSocketsIn(pid, ~((1u << kTcpTimeWait) | (1u << kTcpNewSynRecv)));
}

std::vector<SocketDescriptor> SocketDescriptors(pid_t pid) {
  std::vector<SocketDescriptor> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  constexpr std::string_view kPrefix = "socket:[";
  while (dirent* ent = readdir(d)) {
    if (ent->d_name[0] == '.') continue;
    char link[64];
    const ssize_t n = readlinkat(dirfd(d), ent->d_name, link, sizeof link);
    if (n <= 0 || static_cast<size_t>(n) >= sizeof link) continue;
    const std::string_view target(link, static_cast<size_t>(n));
    if (target.rfind(kPrefix, 0) != 0 || target.back() != ']') continue;
    const auto digits = target.substr(kPrefix.size(), target.size() - kPrefix.size() - 1);
    const std::string_view name(ent->d_name);
    SocketDescriptor s;
    if (ParseDecimal(digits, s.inode) && ParseDecimal(name, s.fd)) out.push_back(s);
  }
  closedir(d);
  std::sort(out.begin(), out.end(), [](const SocketDescriptor& a, const SocketDescriptor& b) { return a.fd < b.fd; });
  return out;
}

std::set<uint64_t> SocketInodes(pid_t pid) {
  std::set<uint64_t> out;
  for (const SocketDescriptor& s : SocketDescriptors(pid)) out.insert(s.inode);
  return out;
}

std::vector<pid_t> ProcessTree(pid_t root) {
  std::vector<pid_t> out;
  if (auto st = ReadProcStat(root); !st || st->dead()) return out;
  std::unordered_set<pid_t> seen{root};
  out.push_back(root);
  for (size_t i = 0; i < out.size(); ++i) {
    for (pid_t child : ReadChildren(out[i])) {
      if (!seen.insert(child).second) continue;
      if (auto st = ReadProcStat(child); st && !st->dead()) out.push_back(child);
    }
  }
  return out;
}

std::vector<TcpSocketEntry> ListenersOf(const std::vector<pid_t>& pids) {
  std::vector<TcpSocketEntry> out;
  std::set<uint64_t> inodes;
  for (pid_t pid : pids) inodes.merge(SocketInodes(pid));
  if (inodes.empty() || pids.empty()) return out;
  std::set<uint64_t> taken;
  for (auto& e : ListeningTcpSockets(pids.front()))
    if (inodes.count(e.inode) && taken.insert(e.inode).second) out.push_back(std::move(e));
  return out;
}

}  // namespace coder::harness
