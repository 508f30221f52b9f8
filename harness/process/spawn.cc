// Launching a target with vfork and execve, and the PATH lookup that finds it.
#include "harness/process/spawn.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "harness/process/proc_fs.h"

extern char** environ;

namespace coder::harness {

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

// What the child needs between vfork and execve, all built by the parent beforehand: the child runs in
// the harness's memory and on its stack, so it may only read this, make async-signal-safe calls and
// write to its own descriptors; it must not allocate, nor write anything the harness reads afterwards
// (it does write the calling thread's errno, which the parent reads only when vfork failed).
struct ChildPlan {
  const char* path;  // resolved by ResolveExecutable
  char* const* argv;
  char* const* envp;
  const char* working_dir;  // nullptr: inherit
  int stdio[3];             // become 0, 1, 2; each above 2, so no dup2 clobbers another
  int report_fd;            // the error pipe's write end, above 2, O_CLOEXEC: execve closes it
  pid_t parent_pid;
  bool allow_ptrace_by_harness;
  sigset_t reset;  // the signals whose disposition is not the default (SignalsToReset)
};

// What a failed child writes to the error pipe: the step that failed and its errno.
enum class ChildStep : int { kStdio, kProcessGroup, kWorkingDir, kExec };
struct ChildFailure {
  ChildStep step;
  int err;
};

[[noreturn]] void FailChild(const ChildPlan& plan, ChildStep step) noexcept {
  const ChildFailure failure{step, errno};
  // A pipe write of fewer than PIPE_BUF bytes is atomic; if it fails, the parent sees end of file and
  // then the exit status 127.
  [[maybe_unused]] ssize_t n = write(plan.report_fd, &failure, sizeof failure);
  _exit(127);
}

// Ignored dispositions survive execve (handled ones are reset by it). Reset while every signal is still
// blocked: this child shares the harness's memory, where a harness handler must never run.
void ResetSignalDispositions(const ChildPlan& plan) noexcept {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP && sigismember(&plan.reset, sig) == 1)
      sigaction(sig, &dfl, nullptr);  // glibc's own ones: EINVAL
  }
}

// The signals this process ignores or catches, from /proc/thread-self/status (process-wide, whichever
// thread reads it): one read in the parent, where asking each of the 64 would cost as many system calls
// in the child, on the path of every launch. All of them when it cannot be read. The harness sets its
// handlers before it launches anything; one set at the same moment by another thread could be missed.
sigset_t SignalsToReset() {
  sigset_t set;
  sigfillset(&set);
  auto text = ReadSmallFile("/proc/thread-self/status");
  if (!text) return set;
  const auto ignored = StatusSignalMask(*text, "SigIgn:");
  const auto caught = StatusSignalMask(*text, "SigCgt:");
  if (!ignored || !caught) return set;
  sigemptyset(&set);
  for (int sig = 1; sig < NSIG && sig <= 64; ++sig)
    if (((*ignored | *caught) >> (sig - 1)) & 1u) sigaddset(&set, sig);
  return set;
}

// Marks every descriptor above 2 close-on-exec, the error pipe (already so) included, so nothing of the
// harness's that lacks O_CLOEXEC (a descriptor opened by a library, or by another thread) reaches the
// target. Linux 5.9 and 5.10 lack CLOSE_RANGE_CLOEXEC: close all but the error pipe instead.
void CloseHarnessDescriptors(int report_fd) noexcept {
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  close_range(3, static_cast<unsigned>(report_fd) - 1, 0);
  close_range(static_cast<unsigned>(report_fd) + 1, ~0U, 0);
}

[[noreturn]] void ExecChild(const ChildPlan& plan) noexcept {
  ResetSignalDispositions(plan);
  for (int fd = 0; fd <= 2; ++fd) {
    // dup2 onto another number clears FD_CLOEXEC there, so the stdio survives execve.
    if (dup2(plan.stdio[fd], fd) < 0) FailChild(plan, ChildStep::kStdio);
  }
  if (setpgid(0, 0) != 0) FailChild(plan, ChildStep::kProcessGroup);
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  // The parent may have died before prctl took effect; then nobody would ever send the signal.
  if (getppid() != plan.parent_pid) _exit(127);
  // Survives execve. EINVAL without Yama, where nothing needs allowing.
  if (plan.allow_ptrace_by_harness) prctl(PR_SET_PTRACER, plan.parent_pid, 0, 0, 0);
  if (plan.working_dir != nullptr && chdir(plan.working_dir) != 0) FailChild(plan, ChildStep::kWorkingDir);
  CloseHarnessDescriptors(plan.report_fd);
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, nullptr);
  execve(plan.path, plan.argv, plan.envp);
  FailChild(plan, ChildStep::kExec);
}

// vfork rather than fork: fork copies the harness's page tables, then both sides take copy-on-write
// faults until execve. The child only execs (ExecChild never returns), so sharing the harness's memory
// and stack is safe. Every signal is blocked across it so that no harness handler runs in the child
// before its dispositions are reset (glibc keeps its internal cancellation and setxid signals
// unblockable; the harness neither cancels threads nor changes ids). Nothing tells Asio about the fork:
// its reactor would rebuild its descriptors in the child, inside the shared memory, and every descriptor
// it owns is close-on-exec anyway. Returns the pid, or -1 with the errno in *err.
pid_t VforkExec(const ChildPlan& plan, int* err) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = vfork();
  if (pid == 0) ExecChild(plan);
  *err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return pid;
}

// The child's report on the error pipe: nullopt (end of file, so execve succeeded and closed the write
// end), or what failed.
std::optional<ChildFailure> ReadChildFailure(int report_fd) {
  ChildFailure failure{};
  ssize_t n;
  while ((n = read(report_fd, &failure, sizeof failure)) < 0 && errno == EINTR) {
  }
  if (n == 0) return std::nullopt;
  if (n != static_cast<ssize_t>(sizeof failure)) return ChildFailure{ChildStep::kExec, n < 0 ? errno : EIO};
  return failure;
}

void Reap(pid_t pid) {
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

std::string Describe(const ChildFailure& failure, const ChildPlan& plan) {
  switch (failure.step) {
    case ChildStep::kStdio: return std::string("cannot execute ") + plan.path + ": dup2: " + Errno(failure.err);
    case ChildStep::kProcessGroup:
      return std::string("cannot execute ") + plan.path + ": setpgid: " + Errno(failure.err);
    case ChildStep::kWorkingDir:
      return std::string("cannot use working directory ") + plan.working_dir + ": " + Errno(failure.err);
    case ChildStep::kExec: break;
  }
  return std::string("cannot execute ") + plan.path + ": " + Errno(failure.err);
}

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

// The empty string for "inherit", else `dir` made absolute; an Error when it is not a directory.
Result<std::string> AbsoluteWorkingDir(const std::filesystem::path& dir) {
  if (dir.empty()) return std::string();
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return Error{"cannot use working directory " + dir.string() + ": " + (ec ? ec.message() : "not a directory")};
  }
  return std::filesystem::absolute(dir, ec).string();
}

// Every descriptor a spawn opens, all O_CLOEXEC (children forked concurrently by other threads must not
// inherit them); the ones the child uses are above 2.
struct ChildDescriptors {
  Fd out_read, out_write, err_read, err_write, dev_null, report_read, report_write;
};

Status OpenPipe(Fd& read_end, Fd& write_end) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Error{"pipe: " + Errno(errno)};
  read_end.Reset(p[0]);
  write_end.Reset(p[1]);
  return Ok{};
}

Status OpenChildDescriptors(ChildDescriptors& fds) {
  for (auto [r, w] : {std::pair{&fds.out_read, &fds.out_write}, std::pair{&fds.err_read, &fds.err_write},
                      std::pair{&fds.report_read, &fds.report_write}}) {
    if (auto st = OpenPipe(*r, *w); !st) return st;
  }
  fds.dev_null.Reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (fds.dev_null.get() < 0) return Error{"open /dev/null: " + Errno(errno)};
  for (Fd* fd : {&fds.out_write, &fds.err_write, &fds.dev_null, &fds.report_write}) {
    if (!MoveAboveStdio(*fd)) return Error{"fcntl(F_DUPFD_CLOEXEC): " + Errno(errno)};
  }
  return Ok{};
}

// execve's argv/envp: pointers into `strings`, which must outlive them, and a final nullptr.
std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));  // execve does not write them
  out.push_back(nullptr);
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
  auto dir = AbsoluteWorkingDir(spec.working_dir);
  if (!dir) return dir.error();
  ChildDescriptors fds;
  if (auto st = OpenChildDescriptors(fds); !st) return st.error();

  std::vector<std::string> env = BuildEnvironment(spec);
  std::vector<char*> env_ptrs = CStrings(env);
  std::vector<char*> argv_ptrs = CStrings(spec.argv);
  const ChildPlan plan{exe->c_str(),
                       argv_ptrs.data(),
                       env_ptrs.data(),
                       dir->empty() ? nullptr : dir->c_str(),
                       {fds.dev_null.get(), fds.out_write.get(), fds.err_write.get()},
                       fds.report_write.get(),
                       getpid(),
                       spec.allow_ptrace_by_harness,
                       SignalsToReset()};
  int vfork_errno = 0;
  const pid_t pid = VforkExec(plan, &vfork_errno);
  if (pid < 0) return Error{"vfork: " + Errno(vfork_errno)};
  // Only the child may hold the write end now: its execve or its exit gives end of file.
  fds.report_write.Reset();
  if (auto failure = ReadChildFailure(fds.report_read.get())) {
    Reap(pid);  // it exited after writing; collect it so no zombie is left
    return Error{Describe(*failure, plan)};
  }
  SpawnedChild child;
  child.started_at = std::chrono::steady_clock::now();
  child.pid = pid;
  child.pidfd = static_cast<int>(syscall(SYS_pidfd_open, child.pid, 0));
  if (child.pidfd < 0) {
    const int pidfd_errno = errno;
    kill(child.pid, SIGKILL);
    Reap(child.pid);
    return Error{"pidfd_open(" + std::to_string(child.pid) + "): " + Errno(pidfd_errno)};
  }
  child.stdout_fd = fds.out_read.Release();
  child.stderr_fd = fds.err_read.Release();
  return child;
}

}  // namespace coder::harness
