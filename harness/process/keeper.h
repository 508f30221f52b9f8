#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "common/result.h"

namespace coder::harness {

/// Makes a killed harness leave nothing behind. Start() forks a small keeper process (twice, so it is
/// not the harness's child: see OwnChildren) in a session of its own (a kill of the harness's process
/// group or a terminal's ^C does not reach it) that waits on a pipe only the harness can write. When
/// the harness ends in any way, SIGKILL included, the kernel closes the pipe and the keeper SIGKILLs
/// every process whose environment carries the experiment's marker (kOwnerVariable, which every target
/// and everything it starts inherits, daemons that left its group and session included), again until
/// none is left or 10 s pass, then exits.
///
/// Call Start() before the process has other threads (the keeper is a plain fork) and before it becomes
/// a child subreaper (a subreaper would adopt the keeper, which is then its child again). Not thread-safe;
/// one per experiment. Release() is idempotent; the destructor calls it.
class Keeper {
 public:
  /// `experiment` is the marker's prefix, unique to this experiment (see NewExperimentMarker).
  static Result<std::unique_ptr<Keeper>> Start(const std::string& experiment);
  Keeper(const Keeper&) = delete;
  Keeper& operator=(const Keeper&) = delete;
  ~Keeper() { Release(); }

  /// Closes the pipe: the keeper sweeps (nothing is left by then on a normal exit) and exits; waits
  /// until it has.
  void Release();
  pid_t pid() const { return pid_; }

 private:
  Keeper(pid_t pid, int pipe_fd, int pidfd) : pid_(pid), pipe_fd_(pipe_fd), pidfd_(pidfd) {}
  pid_t pid_;
  int pipe_fd_;
  int pidfd_;  // -1 without pidfd_open (Linux < 5.3): Release then does not wait for the sweep
};

/// A marker prefix no other experiment on this machine shares: "PID-RANDOM/".
std::string NewExperimentMarker();

}  // namespace coder::harness
