#include "harness/subreaper.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "harness/proc_fs.h"

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
  int value = 0;
  return prctl(PR_GET_CHILD_SUBREAPER, &value, 0, 0, 0) == 0 && value != 0;
}

int ReapOrphans() {
  std::unique_lock spawn_lock(GetRegistry().spawn_mu);
  int reaped = 0;
  for (pid_t pid : ReadChildren(getpid())) {
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

std::vector<pid_t> LiveDescendants(pid_t root_or_pgid) {
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
