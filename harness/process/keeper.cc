#include "harness/process/keeper.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

#include "harness/process/proc_fs.h"
#include "harness/process/subreaper.h"

namespace coder::harness {
namespace {

/// Every process of this machine carrying `prefix` is SIGKILLed, until none is left or the deadline.
void Sweep(const std::string& prefix) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  const pid_t self = ::getpid();
  for (;;) {
    bool any = false;
    for (pid_t pid : ListPids()) {
      if (pid == self || !HasOwnerMarker(pid, prefix)) continue;
      auto st = ReadProcStat(pid);
      if (!st || st->dead()) continue;
      ::kill(pid, SIGKILL);
      any = true;
    }
    if (!any || std::chrono::steady_clock::now() >= deadline) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

[[noreturn]] void KeeperMain(int pipe_fd, const std::string& prefix) {
  // Its own session: a group kill of the harness, or the terminal's signals, must not take it too.
  ::setsid();
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGUSR1, SIGUSR2}) ::signal(sig, SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Nothing of the harness's may stay open here: a report file, a pipe a CI runner waits on.
  // The pipe may have got a number 0 to 2 (a harness started with one closed): move it out of the way.
  const int high = ::fcntl(pipe_fd, F_DUPFD, 10);
  const int null_fd = ::open("/dev/null", O_RDWR);
  for (int fd = 0; fd <= 2; ++fd) ::dup2(null_fd, fd);
  ::dup2(high, 3);
  if (::syscall(SYS_close_range, 4u, ~0u, 0u) != 0)
    for (int fd = 4; fd < 4096; ++fd) ::close(fd);
  char byte;
  while (::read(3, &byte, 1) != 0) {
    if (errno != EINTR) break;
  }
  Sweep(prefix);
  ::_exit(0);
}

}  // namespace

std::string NewExperimentMarker() {
  std::random_device random;
  return fmt::format("{}-{:08x}{:08x}/", ::getpid(), random(), random());
}

Result<std::unique_ptr<Keeper>> Keeper::Start(const std::string& experiment) {
  int lifeline[2], report[2];
  if (::pipe2(lifeline, O_CLOEXEC) != 0) return Error{fmt::format("keeper: pipe: {}", std::strerror(errno))};
  if (::pipe2(report, O_CLOEXEC) != 0) {
    const int err = errno;
    for (int fd : lifeline) ::close(fd);
    return Error{fmt::format("keeper: pipe: {}", std::strerror(err))};
  }
  // Forked twice, so the keeper is not a child of the harness: with no run live, a harness with no
  // children at all has no orphans either, which one waitid() tells (OwnChildren) instead of a walk of
  // every thread's /proc children file after each run. The middle process reports the keeper's pid.
  const pid_t middle = ::fork();
  if (middle < 0) {
    const int err = errno;
    for (int fd : {lifeline[0], lifeline[1], report[0], report[1]}) ::close(fd);
    return Error{fmt::format("keeper: fork: {}", std::strerror(err))};
  }
  if (middle == 0) {
    ::close(lifeline[1]);
    ::close(report[0]);
    const pid_t keeper = ::fork();
    if (keeper == 0) {
      ::close(report[1]);
      KeeperMain(lifeline[0], experiment);
    }
    [[maybe_unused]] ssize_t n = ::write(report[1], &keeper, sizeof keeper);
    ::_exit(keeper < 0 ? 1 : 0);
  }
  ::close(lifeline[0]);
  ::close(report[1]);
  pid_t keeper = -1;
  ssize_t n;
  while ((n = ::read(report[0], &keeper, sizeof keeper)) < 0 && errno == EINTR) {
  }
  const int read_err = errno;
  ::close(report[0]);
  while (::waitpid(middle, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof keeper) || keeper <= 0) {
    ::close(lifeline[1]);  // a keeper that did start sweeps (nothing) and exits
    return Error{fmt::format("keeper: fork: {}", n < 0 ? std::strerror(read_err) : "the keeper did not start")};
  }
  // The keeper waits on the lifeline, which only this process holds, so its pid stays its own until the
  // lifeline closes: the pidfd cannot name a recycled pid.
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, keeper, 0));
  // Should a subreaper adopt it after all (one made before Start), it is ours to collect, not an orphan
  // for ReapOrphans or KillOrphans.
  internal::RegisterOwnedPid(keeper);
  return std::unique_ptr<Keeper>(new Keeper(keeper, lifeline[1], pidfd));
}

void Keeper::Release() {
  if (pipe_fd_ < 0) return;
  ::close(pipe_fd_);
  pipe_fd_ = -1;
  // Waits for its sweep to end: what it kills is gone when the harness exits.
  if (pidfd_ >= 0) {
    pollfd p{pidfd_, POLLIN, 0};
    while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
    ::close(pidfd_);
    pidfd_ = -1;
  }
  // A child only when a subreaper adopted it; then its zombie is ours to reap (ECHILD otherwise).
  while (::waitpid(pid_, nullptr, WNOHANG) < 0 && errno == EINTR) {
  }
  internal::UnregisterOwnedPid(pid_);
}

}  // namespace coder::harness
