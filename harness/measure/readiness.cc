#include "harness/measure/readiness.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "harness/process/proc_net.h"

namespace coder::harness {

Result<TcpAddress> ParseTcpAddress(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return Error{fmt::format("\"{}\": want HOST:PORT", text)};
  TcpAddress out;
  out.host = text.substr(0, colon);
  if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']')
    out.host = out.host.substr(1, out.host.size() - 2);
  const std::string_view port_text = std::string_view(text).substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
    return Error{fmt::format("\"{}\" has no valid port", text)};
  out.port = static_cast<uint16_t>(port);
  return out;
}

bool TcpConnects(const TcpAddress& address, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (getaddrinfo(address.host.c_str(), std::to_string(address.port).c_str(), &hints, &found) != 0) return false;
  bool connected = false;
  for (addrinfo* ai = found; ai != nullptr && !connected; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      connected = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      connected = ::poll(&p, 1, static_cast<int>(timeout.count())) == 1 &&
                  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
    ::close(fd);
  }
  freeaddrinfo(found);
  return connected;
}

ReadinessProbes::ReadinessProbes(pid_t root, bool listen, const std::string& url, const std::string& tcp,
                                 std::optional<uint16_t> listen_port)
    : root_(root), listen_port_(listen_port) {
  if (listen) {
    listen_ =
        Condition{listen_port ? fmt::format("a TCP listener of the target's process tree on port {}", *listen_port)
                              : std::string("a TCP listener of the target's process tree")};
  }
  if (!url.empty()) {
    if (auto parsed = ParseHttpUrl(url)) parsed_url_ = *parsed;
    url_ = Condition{fmt::format("{} answering 2xx from the target's own listener", url)};
  }
  if (!tcp.empty()) {
    if (auto parsed = ParseTcpAddress(tcp)) parsed_tcp_ = *parsed;
    tcp_ = Condition{fmt::format("{} accepting connections on the target's own listener", tcp)};
  }
}

bool ReadinessProbes::TreeListensOn(uint16_t port, std::string& last_seen) const {
  const auto tree = ProcessTree(root_);
  const auto listeners = ListenersOf(tree);
  for (const auto& l : listeners)
    if (port == 0 || l.local_port == port) return true;
  if (listeners.empty()) {
    last_seen = "the target's process tree listens on no TCP port";
  } else {
    std::vector<std::string> endpoints;
    for (const auto& l : listeners) endpoints.push_back(l.LocalEndpoint());
    last_seen = fmt::format("the target's process tree listens on {} only", fmt::join(endpoints, ", "));
  }
  if (port != 0) {
    // Say who answers instead, so a port taken by another server is not mistaken for a slow start.
    for (const auto& e : ListeningTcpSockets(root_))
      if (e.local_port == port) {
        last_seen += fmt::format("; port {} is held by a process outside the target's tree", port);
        break;
      }
  }
  return false;
}

bool ReadinessProbes::PollOnce(std::chrono::steady_clock::time_point deadline) {
  using std::chrono::milliseconds;
  constexpr milliseconds kFullAttempt{1000};
  const auto start = std::chrono::steady_clock::now();
  const auto attempt_timeout =
      std::clamp(std::chrono::duration_cast<milliseconds>(deadline - start), milliseconds(1), kFullAttempt);
  if (listen_ && !listen_->held) listen_->held = TreeListensOn(listen_port_.value_or(0), listen_->last_seen);
  if (url_ && !url_->held) {
    if (!parsed_url_) {
      url_->last_seen = "not a valid http:// URL";
    } else if (!TreeListensOn(parsed_url_->port, url_->last_seen)) {
      url_->seen_by_attempt = false;
    } else if (auto status = HttpGetStatus(*parsed_url_, attempt_timeout); status && *status >= 200 && *status < 300) {
      url_->held = true;
    } else {
      // The last attempt before the deadline gets what time is left: its timeout says only that the
      // time ran out, where the attempt before it saw what the target does (a header over the limit).
      const bool cut_short =
          attempt_timeout < kFullAttempt && std::chrono::steady_clock::now() - start >= attempt_timeout;
      if (!cut_short || !url_->seen_by_attempt) {
        url_->last_seen = status ? fmt::format("status {}", *status) : status.error().message;
        url_->seen_by_attempt = true;
      }
    }
  }
  if (tcp_ && !tcp_->held) {
    if (!parsed_tcp_) {
      tcp_->last_seen = "not a valid HOST:PORT";
    } else if (TreeListensOn(parsed_tcp_->port, tcp_->last_seen)) {
      tcp_->held = TcpConnects(*parsed_tcp_, attempt_timeout);
      if (!tcp_->held) tcp_->last_seen = "the connection was not accepted";
    }
  }
  return (!listen_ || listen_->held) && (!url_ || url_->held) && (!tcp_ || tcp_->held);
}

std::vector<std::string> ReadinessProbes::Describe() const {
  std::vector<std::string> out;
  for (const auto* c : {&listen_, &url_, &tcp_}) {
    if (!*c) continue;
    out.push_back((*c)->held ? fmt::format("{} (held)", (*c)->waited_for)
                             : fmt::format("{} (last seen: {})", (*c)->waited_for, (*c)->last_seen));
  }
  return out;
}

}  // namespace coder::harness
