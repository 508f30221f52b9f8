#include "harness/process/subreaper.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "harness/process/proc_fs.h"

namespace coder::harness {
namespace {

struct Registry {
  std::shared_mutex spawn_mu;
  std::mutex owned_mu;
  std::unordered_set<pid_t> owned;
};

Registry& GetRegistry() {
  // Leaked on purpose: children may still be reaped while static destructors run.
  static Registry* registry = new Registry;
  return *registry;
}

bool IsOwned(pid_t pid) {
  Registry& r = GetRegistry();
  std::lock_guard lock(r.owned_mu);
  return r.owned.count(pid) != 0;
}

}  // namespace

namespace internal {

std::shared_lock<std::shared_mutex> LockForSpawn() {
  return std::shared_lock<std::shared_mutex>(GetRegistry().spawn_mu);
}

void RegisterOwnedPid(pid_t pid) {
  Registry& r = GetRegistry();
  std::lock_guard lock(r.owned_mu);
  r.owned.insert(pid);
}

void UnregisterOwnedPid(pid_t pid) {
  Registry& r = GetRegistry();
  std::lock_guard lock(r.owned_mu);
  r.owned.erase(pid);
}

}  // namespace internal

Status BecomeChildSubreaper() {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    return Error{std::string("prctl(PR_SET_CHILD_SUBREAPER): ") + std::strerror(errno)};
  }
  return Ok{};
}

bool IsChildSubreaper() {
  // Nothing unsets it (it is process-wide and the harness never clears it), so a yes is remembered;
  // asked after every run, the prctl would be a syscall each time.
  static std::atomic<bool> known{false};
  if (known.load(std::memory_order_relaxed)) return true;
  int value = 0;
  const bool is = prctl(PR_GET_CHILD_SUBREAPER, &value, 0, 0, 0) == 0 && value != 0;
  if (is) known.store(true, std::memory_order_relaxed);
  return is;
}

std::vector<pid_t> OwnChildren() {
  // ECHILD says there is no child at all, in one syscall: the common case between runs, where reading
  // every thread's children file costs a directory listing and a file per thread. WNOWAIT reaps
  // nothing; __WALL counts children of every kind.
  siginfo_t info{};
  if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT | __WALL) != 0 && errno == ECHILD) return {};
  return ReadChildren(getpid());
}

int ReapOrphans() {
  std::unique_lock spawn_lock(GetRegistry().spawn_mu);
  int reaped = 0;
  for (pid_t pid : OwnChildren()) {
    if (IsOwned(pid)) continue;
    int status = 0;
    pid_t r;
    do {
      r = waitpid(pid, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == pid) ++reaped;
  }
  return reaped;
}

namespace {

/// Kills the live children of this process that no ChildProcess owns and `select` picks, and reaps the
/// dead ones (all of them with `reap_any_dead`, else those it killed), round after round until none it
/// picks is alive or the deadline. Returns how many it killed.
template <class Select>
int KillUnownedChildren(Select select, bool reap_any_dead, std::chrono::steady_clock::time_point deadline) {
  std::unordered_set<pid_t> killed;
  auto pause = std::chrono::microseconds(200);
  for (;;) {
    bool live = false;
    for (pid_t pid : OwnChildren()) {
      if (IsOwned(pid)) continue;
      auto st = ReadProcStat(pid);
      if (!st || st->dead()) {
        // Dead: reap it; its own children were re-parented here as it died and come up next round.
        if (reap_any_dead || killed.count(pid))
          while (waitpid(pid, nullptr, WNOHANG) < 0 && errno == EINTR) {
          }
      } else if (select(pid)) {
        // Our child, so its pid cannot be recycled before we reap it: the signal reaches the orphan.
        if (::kill(pid, SIGKILL) == 0) killed.insert(pid);
        live = true;
      }
    }
    if (!live || std::chrono::steady_clock::now() >= deadline) break;
    // SIGKILL is asynchronous and nothing notifies a subreaper's thread of its adopted children's death
    // without waitpid(-1), which would steal the status a ChildProcess waits for.
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(10));
  }
  return static_cast<int>(killed.size());
}

}  // namespace

int KillOrphans(std::chrono::milliseconds timeout) {
  std::unique_lock spawn_lock(GetRegistry().spawn_mu);
  return KillUnownedChildren([](pid_t) { return true; }, true, std::chrono::steady_clock::now() + timeout);
}

bool HasOwnerMarker(pid_t pid, std::string_view prefix) {
  const auto value = EnvironmentValue(pid, kOwnerVariable);
  return value && value->rfind(prefix, 0) == 0;
}

std::vector<pid_t> LiveMarkedOrphans(std::string_view prefix) {
  std::vector<pid_t> out;
  for (pid_t pid : OwnChildren()) {
    if (IsOwned(pid) || !HasOwnerMarker(pid, prefix)) continue;
    if (auto st = ReadProcStat(pid); st && !st->dead()) out.push_back(pid);
  }
  return out;
}

int KillMarkedOrphans(std::string_view prefix, std::chrono::milliseconds timeout) {
  // No spawn lock: a target being launched carries another run's marker (or none yet), so it is never
  // picked, and only what was killed here is reaped.
  return KillUnownedChildren([prefix](pid_t pid) { return HasOwnerMarker(pid, prefix); }, false,
                             std::chrono::steady_clock::now() + timeout);
}

bool HasUnownedChildren() {
  for (pid_t child : OwnChildren()) {
    if (IsOwned(child)) continue;
    // Listed a moment ago, it may since have been reaped by its owner and unregistered (the usual end of
    // a run): only one still here, a child of ours, counts. A wrong yes would send the caller to scan
    // all of /proc.
    if (auto st = ReadProcStat(child); st && st->ppid == getpid() && !IsOwned(child)) return true;
  }
  return false;
}

std::vector<pid_t> LiveTreeLeaderFirst(pid_t root) {
  std::vector<pid_t> pids = LiveDescendants(root);
  std::stable_partition(pids.begin(), pids.end(), [&](pid_t p) { return p == root; });
  return pids;
}

std::vector<pid_t> LiveDescendants(pid_t root_or_pgid) {
  // For a group this process made (its leader a child of ours, alive or a zombie): a member outside the
  // leader's tree is, or descends from, an orphan re-parented here. With none, the tree is the answer
  // and the scan of every process of the machine (a few hundred files) is saved. An exited leader's
  // children were re-parented here too, so with none its tree is itself, and dead. The orphans are
  // looked for after the walk: one whose parent died during it is a child of ours by then.
  if (IsChildSubreaper()) {
    if (auto st = ReadProcStat(root_or_pgid); st && st->ppid == getpid() && st->pgrp == root_or_pgid) {
      std::vector<pid_t> tree{root_or_pgid};
      std::unordered_set<pid_t> seen{root_or_pgid};
      for (size_t i = 0; i < tree.size(); ++i)
        for (pid_t child : ReadChildren(tree[i]))
          if (seen.insert(child).second) tree.push_back(child);
      std::vector<pid_t> live;
      if (!st->dead()) live.push_back(root_or_pgid);
      for (size_t i = 1; i < tree.size(); ++i)
        if (auto cst = ReadProcStat(tree[i]); cst && !cst->dead()) live.push_back(tree[i]);
      if (!HasUnownedChildren()) {
        std::sort(live.begin(), live.end());
        return live;
      }
    }
  }
  std::unordered_map<pid_t, ProcStat> all;
  std::unordered_multimap<pid_t, pid_t> children_of;
  for (pid_t pid : ListPids()) {
    if (auto st = ReadProcStat(pid)) {
      all.emplace(pid, *st);
      children_of.emplace(st->ppid, pid);
    }
  }
  std::unordered_set<pid_t> found;
  // The ppid map from one scan sees every descendant, including children of non-main threads.
  std::vector<pid_t> stack{root_or_pgid};
  while (!stack.empty()) {
    pid_t p = stack.back();
    stack.pop_back();
    if (!all.count(p) || !found.insert(p).second) continue;
    auto [b, e] = children_of.equal_range(p);
    for (auto it = b; it != e; ++it) stack.push_back(it->second);
  }
  for (const auto& [pid, st] : all) {
    if (st.pgrp == root_or_pgid) found.insert(pid);
  }
  std::vector<pid_t> live;
  for (pid_t pid : found) {
    if (!all.at(pid).dead()) live.push_back(pid);
  }
  std::sort(live.begin(), live.end());
  return live;
}

}  // namespace coder::harness
