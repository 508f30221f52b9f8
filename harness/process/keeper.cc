#include "harness/process/keeper.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
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
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Error{fmt::format("keeper: pipe: {}", std::strerror(errno))};
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return Error{fmt::format("keeper: fork: {}", std::strerror(err))};
  }
  if (pid == 0) {
    ::close(fds[1]);
    KeeperMain(fds[0], experiment);
  }
  ::close(fds[0]);
  // Its exit status is ours to collect, not an orphan's for ReapOrphans or KillOrphans.
  internal::RegisterOwnedPid(pid);
  return std::unique_ptr<Keeper>(new Keeper(pid, fds[1]));
}

void Keeper::Release() {
  if (pipe_fd_ < 0) return;
  ::close(pipe_fd_);
  pipe_fd_ = -1;
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  internal::UnregisterOwnedPid(pid_);
}

}  // namespace coder::harness
