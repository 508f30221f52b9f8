// spawn_floor: the least a shutdown harness can cost per run, measured, so that scripts/compare-hyperfine
// can say how much of its gap to hyperfine is the harness's and how much any harness pays.
//
//   spawn_floor RUNS [--signal-on LINE] -- PROGRAM [ARG...]
//
// One thread, nothing but the work every run of `coder diag shutdown` must do: two pipes for the
// target's output, vfork and execve into its own process group, a pidfd, epoll over the three; with
// --signal-on, SIGTERM through the pidfd once a line containing LINE arrives; then the exit, the output
// to end of file, and the reap. No readiness probe, no RSS sample, no orphan check, no record. Prints the
// mean milliseconds per run over RUNS runs (after 10 unmeasured ones) on stdout.
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

struct Args {
  long runs = 0;
  std::string signal_on;  // empty: the target exits by itself
  char** argv = nullptr;
};

[[noreturn]] void Usage() {
  std::fprintf(stderr, "usage: spawn_floor RUNS [--signal-on LINE] -- PROGRAM [ARG...]\n");
  std::exit(2);
}

Args Parse(int argc, char** argv) {
  Args a;
  if (argc < 4) Usage();
  a.runs = std::strtol(argv[1], nullptr, 10);
  int i = 2;
  if (std::string_view(argv[i]) == "--signal-on" && i + 1 < argc) {
    a.signal_on = argv[i + 1];
    i += 2;
  }
  if (i >= argc || std::string_view(argv[i]) != "--" || i + 1 >= argc || a.runs <= 0) Usage();
  a.argv = argv + i + 1;
  return a;
}

// One run; false when something could not be made (the harness would report it, here it ends the bench).
bool RunOnce(const Args& a) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return false;
  const pid_t pid = vfork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    setpgid(0, 0);
    execv(a.argv[0], a.argv);
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  if (pid < 0) return false;
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  for (int fd : {out[0], err[0], pidfd}) {
    fcntl(fd, F_SETFL, O_NONBLOCK);
    epoll_event ev{.events = EPOLLIN, .data = {.fd = fd}};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  int open_streams = 2;
  bool exited = false, signalled = a.signal_on.empty();
  std::string pending;
  char buf[65536];
  while (open_streams > 0 || !exited) {
    epoll_event events[3];
    const int n = epoll_wait(ep, events, 3, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == pidfd) {
        exited = true;
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        continue;
      }
      for (;;) {
        const ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0) {
          if (!signalled) {
            pending.append(buf, static_cast<size_t>(r));
            if (pending.find(a.signal_on) != std::string::npos) {
              syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, nullptr, 0);
              signalled = true;
            }
          }
          continue;
        }
        if (r == 0) {
          --open_streams;
          epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        }
        break;
      }
    }
  }
  waitpid(pid, nullptr, 0);
  for (int fd : {out[0], err[0], pidfd, ep}) close(fd);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = Parse(argc, argv);
  for (int i = 0; i < 10; ++i)
    if (!RunOnce(a)) return 1;
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < a.runs; ++i)
    if (!RunOnce(a)) return 1;
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%.4f\n", ms / static_cast<double>(a.runs));
  return 0;
}
