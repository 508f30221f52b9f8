// The only translation unit that includes Boost.Process v2 (it drags in Asio).
#include "harness/process/spawn.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// Process v2 1.81 uses asio::detail::throw_error without including it.
#include <boost/asio/detail/throw_error.hpp>
#include <boost/process/v2.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string_view>

extern char** environ;

namespace coder::harness {
namespace bp = boost::process::v2;

namespace {

std::string Errno(int err) { return std::strerror(err); }

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// A child-side descriptor that landed on 0, 1 or 2 (the harness had one of them closed) would be
// clobbered by the dup2 of another stream: move it out of the way.
bool MoveAboveStdio(Fd& fd) {
  if (fd.get() > 2) return true;
  int moved = fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) return false;
  fd.Reset(moved);
  return true;
}

Status CheckExecutable(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return Error{"cannot execute " + path + ": " + Errno(errno)};
  if (S_ISDIR(st.st_mode)) return Error{"cannot execute " + path + ": " + Errno(EISDIR)};
  if (!S_ISREG(st.st_mode)) return Error{"cannot execute " + path + ": not a regular file"};
  if (access(path.c_str(), X_OK) != 0) return Error{"cannot execute " + path + ": " + Errno(errno)};
  return Ok{};
}

// Runs in the child between vfork and execve, in the harness's memory and on its stack: only
// async-signal-safe calls, no allocation, nothing written that the harness reads afterwards.
struct TargetSetup {
  pid_t parent_pid;
  const char* const* env;
  const char* working_dir;  // nullptr: inherit
  bool allow_ptrace_by_harness;

  bp::error_code on_setup(bp::posix::default_launcher& launcher, const bp::filesystem::path&,
                          const char* const*) {
    launcher.env = env;
    return {};
  }

  bp::error_code on_exec_setup(bp::posix::default_launcher&, const bp::filesystem::path&,
                               const char* const*) {
    // dup2 onto the same number keeps FD_CLOEXEC; the stdio must survive execve.
    for (int fd = 0; fd <= 2; ++fd) fcntl(fd, F_SETFD, 0);
    if (setpgid(0, 0) != 0) return {errno, bp::system_category()};
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    // The parent may have died before prctl took effect; then nobody would ever send the signal.
    if (getppid() != parent_pid) _exit(127);
    // Survives execve. EINVAL without Yama, where nothing needs allowing.
    if (allow_ptrace_by_harness) prctl(PR_SET_PTRACER, parent_pid, 0, 0, 0);
    // Ignored dispositions survive execve (handled ones are reset by it). Reset before unblocking: this
    // child shares the harness's memory, where a harness handler must never run.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
    }
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, nullptr);
    if (working_dir != nullptr && chdir(working_dir) != 0) return {errno, bp::system_category()};
    return {};
  }

  // Process v2 1.81 calls exit() after a failed execve, which would run the harness's atexit handlers
  // and flush its stdio buffers in the child. Its detection expression takes five arguments and the
  // call four, so only a variadic member is ever found.
  template <class... Args>
  void on_exec_error(Args&&...) {
    _exit(127);
  }
};

// Process v2's launchers fork (copying the harness's page tables, then faulting on every page either
// side writes until execve) or vfork after telling the executor's io_context about the fork, whose
// reactor then rebuilds its descriptors in the child, inside the memory the child shares with the
// harness. This one vforks without that notification: the child only execs, and every descriptor Asio
// owns is close-on-exec. Otherwise it is Process v2's vfork_launcher, with the same initializer hooks;
// a failed exec is reported through the error_code the child shares with the parent.
struct ExecOnlyVforkLauncher : bp::posix::default_launcher {
  template <typename Executor, typename... Inits>
  bp::basic_process<Executor> operator()(Executor exec, bp::error_code& ec, const bp::filesystem::path& executable,
                                         const char** args, Inits&&... inits) {
    namespace detail = bp::posix::detail;
    auto argv = this->build_argv_(executable, args);
    ec = detail::on_setup(*this, executable, argv, inits...);
    if (ec) {
      detail::on_error(*this, executable, argv, ec, inits...);
      return bp::basic_process<Executor>(exec);
    }
    pid = ::vfork();
    if (pid == -1) {
      ec.assign(errno, bp::system_category());
      detail::on_fork_error(*this, executable, argv, ec, inits...);
      detail::on_error(*this, executable, argv, ec, inits...);
      return bp::basic_process<Executor>(exec);
    }
    if (pid == 0) {
      ec = detail::on_exec_setup(*this, executable, argv, inits...);
      if (!ec) close_all_fds(ec);
      if (!ec) ::execve(executable.c_str(), const_cast<char* const*>(argv), const_cast<char* const*>(env));
      if (!ec) ec.assign(errno, bp::system_category());
      detail::on_exec_error(*this, executable, argv, ec, inits...);
      _exit(127);
    }
    if (ec) {
      detail::on_error(*this, executable, argv, ec, inits...);
      return bp::basic_process<Executor>(exec);
    }
    bp::basic_process<Executor> proc(exec, pid);
    detail::on_success(*this, executable, argv, ec, inits...);
    return proc;
  }
};

std::vector<std::string> BuildEnvironment(const LaunchSpec& spec) {
  std::vector<std::string> out;
  auto overridden = [&spec](std::string_view entry) {
    std::string_view name = entry.substr(0, entry.find('='));
    for (const auto& [k, v] : spec.env) {
      if (k == name) return true;
    }
    return false;
  };
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (!overridden(*e)) out.emplace_back(*e);
  }
  for (size_t i = 0; i < spec.env.size(); ++i) {
    bool later_duplicate = false;
    for (size_t j = i + 1; j < spec.env.size(); ++j) later_duplicate |= spec.env[j].first == spec.env[i].first;
    if (!later_duplicate) out.push_back(spec.env[i].first + "=" + spec.env[i].second);
  }
  return out;
}

}  // namespace

std::string DefaultExecPath() {
  char buf[256];
  const size_t n = confstr(_CS_PATH, buf, sizeof buf);
  return n > 0 && n <= sizeof buf ? std::string(buf) : std::string("/bin:/usr/bin");
}

std::optional<std::string> ChildPath(const std::vector<std::pair<std::string, std::string>>& env) {
  for (auto it = env.rbegin(); it != env.rend(); ++it) {
    if (it->first == "PATH") return it->second;
  }
  const char* v = getenv("PATH");
  return v != nullptr ? std::optional<std::string>(v) : std::nullopt;
}

Result<std::string> ResolveExecutable(const std::string& name, const std::optional<std::string>& path_env) {
  if (name.empty()) return Error{"cannot execute an empty program name"};
  if (name.find('/') != std::string::npos) {
    std::error_code ec;
    std::string path = std::filesystem::absolute(name, ec).string();
    if (ec) return Error{"cannot execute " + name + ": " + ec.message()};
    if (auto st = CheckExecutable(path); !st) return st.error();
    return path;
  }
  const std::string dirs = path_env ? *path_env : DefaultExecPath();
  std::string_view rest = dirs;
  while (true) {
    size_t colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    struct stat st {};
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return Error{"cannot execute " + name + ": not found in PATH (" + (path_env ? dirs : "unset, so " + dirs) + ")"};
}

Result<SpawnedChild> SpawnChild(const LaunchSpec& spec) {
  if (spec.argv.empty()) return Error{"cannot execute: empty argv"};
  auto exe = ResolveExecutable(spec.argv[0], ChildPath(spec.env));
  if (!exe) return exe.error();
  std::string dir;
  if (!spec.working_dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(spec.working_dir, ec)) {
      return Error{"cannot use working directory " + spec.working_dir.string() + ": " +
                   (ec ? ec.message() : "not a directory")};
    }
    dir = std::filesystem::absolute(spec.working_dir, ec).string();
  }

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return Error{"pipe: " + Errno(errno)};
  Fd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return Error{"pipe: " + Errno(errno)};
  Fd err_read(err_pipe[0]), err_write(err_pipe[1]);
  // Opened here with O_CLOEXEC rather than by process_stdio{nullptr}, whose descriptor would leak into
  // children forked concurrently by other threads.
  Fd dev_null(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (dev_null.get() < 0) return Error{"open /dev/null: " + Errno(errno)};
  if (!MoveAboveStdio(out_write) || !MoveAboveStdio(err_write) || !MoveAboveStdio(dev_null)) {
    return Error{"fcntl(F_DUPFD_CLOEXEC): " + Errno(errno)};
  }

  std::vector<std::string> env = BuildEnvironment(spec);
  std::vector<const char*> env_ptrs;
  for (const auto& e : env) env_ptrs.push_back(e.c_str());
  env_ptrs.push_back(nullptr);
  std::vector<const char*> argv_ptrs;
  for (const auto& a : spec.argv) argv_ptrs.push_back(a.c_str());
  argv_ptrs.push_back(nullptr);
  const char** argv = argv_ptrs.data();

  // One context for every spawn (callers are serialised by LockForSpawn): a context per spawn costs an
  // epoll set, a timerfd and an eventfd each run. It is never run; the process handle only borrows it.
  static boost::asio::io_context ctx;
  ExecOnlyVforkLauncher launcher;
  TargetSetup setup{getpid(), env_ptrs.data(), dir.empty() ? nullptr : dir.c_str(), spec.allow_ptrace_by_harness};
  bp::error_code ec;
  auto proc = launcher(ctx.get_executor(), ec, bp::filesystem::path(*exe), argv,
                       bp::process_stdio{dev_null.get(), out_write.get(), err_write.get()}, setup);
  if (ec) {
    if (launcher.pid > 0) {
      // The child wrote its errno and exited; collect it so no zombie is left.
      while (waitpid(launcher.pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    return Error{"cannot execute " + *exe + ": " + ec.message()};
  }
  SpawnedChild child;
  child.started_at = std::chrono::steady_clock::now();
  child.pid = proc.id();
  child.pidfd = static_cast<int>(syscall(SYS_pidfd_open, child.pid, 0));
  int pidfd_errno = errno;
  // Without detach the process object would SIGKILL and reap the child when it goes out of scope.
  proc.detach();
  if (child.pidfd < 0) {
    kill(child.pid, SIGKILL);
    while (waitpid(child.pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return Error{"pidfd_open(" + std::to_string(child.pid) + "): " + Errno(pidfd_errno)};
  }
  child.stdout_fd = out_read.Release();
  child.stderr_fd = err_read.Release();
  return child;
}

}  // namespace coder::harness
