#include "harness/measure/notify_socket.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <string_view>

namespace coder::harness {
namespace {

using Clock = std::chrono::steady_clock;

// The arrival time the kernel stamped, on the realtime clock, carried over to the steady clock.
Clock::time_point SteadyFromRealtime(const timespec& ts) {
  timespec now_real{};
  clock_gettime(CLOCK_REALTIME, &now_real);
  const auto steady_now = Clock::now();
  const auto age =
      std::chrono::seconds(now_real.tv_sec - ts.tv_sec) + std::chrono::nanoseconds(now_real.tv_nsec - ts.tv_nsec);
  return steady_now - std::chrono::duration_cast<Clock::duration>(age);
}

}  // namespace

Result<std::unique_ptr<NotifySocket>> NotifySocket::Open(const std::filesystem::path& dir) {
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Error{fmt::format("notify socket: {}", std::strerror(errno))};
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  // Whoever can reach the socket could send READY=1 for the target: only the run's private directory,
  // or a random abstract name, which another process would have to guess.
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string address;
  std::filesystem::path file;
  socklen_t len = 0;
  const std::string path = (dir / "notify").string();
  if (!dir.empty() && path.size() < sizeof addr.sun_path) {
    std::memcpy(addr.sun_path, path.data(), path.size());
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    address = path;
    file = path;
  } else {
    const std::string name =
        fmt::format("coder-diag-notify-{:016x}", std::random_device{}() * 0x100000000ull ^ std::random_device{}());
    addr.sun_path[0] = '\0';
    std::memcpy(addr.sun_path + 1, name.data(), name.size());
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    address = "@" + name;
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    const int err = errno;
    ::close(fd);
    return Error{fmt::format("notify socket {}: {}", address, std::strerror(err))};
  }
  return std::unique_ptr<NotifySocket>(new NotifySocket(fd, std::move(address), std::move(file)));
}

NotifySocket::~NotifySocket() {
  ::close(fd_);
  if (!file_.empty()) ::unlink(file_.c_str());
}

void NotifySocket::Drain() {
  // Bounded per call: a target flooding the socket must not keep the run's thread here past its deadlines.
  for (int budget = 256; budget > 0; --budget) {
    char data[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec)) + CMSG_SPACE(256)];
    iovec iov{data, sizeof data};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;
    ++datagrams_;
    Clock::time_point at = Clock::now();
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
        timespec ts;
        std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
        at = SteadyFromRealtime(ts);
      } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        // sd_pid_notify_with_fds can pass descriptors; none is wanted, none is kept.
        const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int passed;
          std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
          ::close(passed);
        }
      }
    }
    // Newline-separated assignments, as sd_notify(3) defines them.
    std::string_view text(data, static_cast<size_t>(n));
    while (!text.empty()) {
      const auto nl = text.find('\n');
      const std::string_view line = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
      if (line == "READY=1" && !ready_at_) ready_at_ = at;
      else if (line == "STOPPING=1" && !stopping_at_) stopping_at_ = at;
      else if (line.rfind("STATUS=", 0) == 0) status_ = std::string(line.substr(7, 512));
    }
  }
}

}  // namespace coder::harness
