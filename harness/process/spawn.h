#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "harness/process/launch_spec.h"

namespace coder::harness {

/// A launched child as plain descriptors, before a ChildProcess takes ownership of them.
struct SpawnedChild {
  pid_t pid = -1;
  int pidfd = -1;                                    ///< pidfd_open(pid): readable once the child has exited; O_CLOEXEC
  int stdout_fd = -1;                                ///< read end of the child's stdout pipe; O_CLOEXEC, blocking
  int stderr_fd = -1;                                ///< read end of the child's stderr pipe; O_CLOEXEC, blocking
  std::chrono::steady_clock::time_point started_at;  ///< when execve had succeeded
};

/// Where a bare program name is looked for when PATH is unset: execvp's default, confstr(_CS_PATH)
/// ("/bin:/usr/bin" with glibc, as POSIX has it). Thread-safe.
std::string DefaultExecPath();

/// The PATH a child launched with `env` (LaunchSpec::env: added to, or overriding, the harness's own
/// environment; the last of duplicates wins) sees; nullopt when it has none at all. Thread-safe.
std::optional<std::string> ChildPath(const std::vector<std::pair<std::string, std::string>>& env);

/// Finds the program to execute: `name` as given when it holds a '/' (made absolute against the
/// harness's working directory, not the child's), else the first executable regular file in the
/// ':'-separated `path_env` (an empty entry means "."); with no PATH at all (nullopt), in
/// DefaultExecPath(), as execvp does. This is the harness's one lookup: SpawnChild calls it with
/// ChildPath(spec.env), and a check before any launch must call it with the same PATH, so the two
/// agree. The Error reads "cannot execute X: reason". Pure apart from stat/access; thread-safe.
Result<std::string> ResolveExecutable(const std::string& name, const std::optional<std::string>& path_env);

/// Launches `spec` with vfork and execve (the program found by ResolveExecutable): stdin from /dev/null,
/// stdout and stderr on pipes, no other descriptor of the harness's, its own process group
/// (pgid == pid), a SIGKILL parent-death signal, an empty signal mask and default signal dispositions,
/// the environment and working directory of `spec`. Returns once execve has succeeded, or an Error
/// ("cannot execute PATH: reason", with execve's errno) once a failed child has been reaped. The caller
/// must hold internal::LockForSpawn() and register the pid before releasing it. The parent-death signal
/// fires when the *calling thread* exits, so call it from a thread that outlives the child. Thread-safe.
Result<SpawnedChild> SpawnChild(const LaunchSpec& spec);

}  // namespace coder::harness
