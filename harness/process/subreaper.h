#pragma once

#include <sys/types.h>

#include <chrono>
#include <shared_mutex>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace coder::harness {

/// Makes this process a child subreaper (PR_SET_CHILD_SUBREAPER): descendants orphaned by a target
/// (a daemonised helper, a grandchild whose parent died) are re-parented here instead of to init, so
/// the harness can still see and kill them. Process-wide and permanent; idempotent; thread-safe.
/// Orphans then become zombies of this process until ReapOrphans() runs.
Status BecomeChildSubreaper();

/// Whether this process is a child subreaper. Thread-safe.
bool IsChildSubreaper();

/// The children of this process, alive or zombies (every thread's /proc/self/task/*/children); one
/// waitid() call when it has none. Thread-safe.
std::vector<pid_t> OwnChildren();

/// Reaps every exited child of this process that no live ChildProcess owns, without blocking; returns
/// how many it reaped. It never calls waitpid(-1): it reaps only listed, unowned pids, so it cannot steal
/// the exit status (and rusage) a ChildProcess waits for. Thread-safe; cheap to call often.
int ReapOrphans();

/// Kills what targets left behind outside their process groups: every live child of this process that
/// no ChildProcess owns (a daemon that called setsid and whose parent exited was re-parented here), then
/// what those leave in turn (their children are re-parented here as they die), until none is left or
/// `timeout` passes; reaps them all. Returns how many it killed. Only meaningful for a child subreaper.
/// It blocks launches meanwhile (it holds LockForSpawn exclusively), so a target being launched is never
/// taken for an orphan; but it cannot tell whose orphan it kills: call it when no run is in progress
/// whose helpers must live on. Thread-safe.
int KillOrphans(std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// The environment variable that marks every process a target starts (children inherit it, and a
/// daemon that leaves the target's group or session keeps it): "EXPERIMENT/RUN".
inline constexpr const char* kOwnerVariable = "CODER_DIAG_OWNER";

/// Whether `pid`'s environment (/proc/PID/environ, the first 1 MiB) holds kOwnerVariable with a value
/// starting with `prefix`. False when the process is gone or unreadable. Thread-safe.
bool HasOwnerMarker(pid_t pid, std::string_view prefix);

/// KillOrphans for one run: kills the live unowned children of this process (orphans re-parented to
/// this subreaper) whose marker starts with `prefix`, and what they leave in turn, until none is left or
/// `timeout` passes; reaps them. Orphans of other runs are left alone, so it may run while other runs
/// go on. Returns how many it killed. Thread-safe.
int KillMarkedOrphans(std::string_view prefix, std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// The live unowned children of this process (orphans re-parented to this subreaper: daemons that left
/// their target's group) whose marker starts with `prefix`. Thread-safe.
std::vector<pid_t> LiveMarkedOrphans(std::string_view prefix);

/// Whether this process has a child that no ChildProcess or Keeper owns: an orphan re-parented to this
/// subreaper, or a child being launched this moment (counted, so the answer errs towards "yes"). When
/// this process is a child subreaper and the answer is no, every live member of a target's process
/// group is in its leader's tree: a member whose parent died would have been re-parented here.
/// Reads OwnChildren() only. Thread-safe.
bool HasUnownedChildren();

/// Live processes that belong to `root_or_pgid`: the process itself, its descendants (followed through
/// /proc/<pid>/task/*/children), and every member of the process group with that id (which still
/// finds grandchildren re-parented after the root died). Zombies count as dead and are left out.
/// Scans all of /proc, except when HasUnownedChildren() says no member can be outside the live root's
/// tree (then it walks that tree): for tests and checks after a stop, not for hot paths. Thread-safe.
std::vector<pid_t> LiveDescendants(pid_t root_or_pgid);
/// LiveDescendants(root) with `root` first, as the stacks and the hang snapshot list a tree.
std::vector<pid_t> LiveTreeLeaderFirst(pid_t root);

namespace internal {

/// The registry of pids whose exit status a ChildProcess will collect. ChildProcess::Start holds
/// LockForSpawn() (shared) from before fork until it has called RegisterOwnedPid, and ReapOrphans holds
/// it exclusively, so a child that dies at once is never reaped by ReapOrphans before it is registered.
std::shared_lock<std::shared_mutex> LockForSpawn();
void RegisterOwnedPid(pid_t pid);
/// Call after the owner has reaped `pid` (or gave up on it, so ReapOrphans may take it).
void UnregisterOwnedPid(pid_t pid);

}  // namespace internal
}  // namespace coder::harness
