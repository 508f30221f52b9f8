#include "harness/process/active_children.h"

#include <csignal>

namespace coder::harness {

bool ActiveChildren::Add(ChildProcess* child) {
  std::lock_guard lock(mu_);
  if (interrupted_) return false;
  children_.insert(child);
  return true;
}

void ActiveChildren::Remove(ChildProcess* child) {
  std::lock_guard lock(mu_);
  children_.erase(child);
}

void ActiveChildren::StopAll() {
  std::lock_guard lock(mu_);
  interrupted_ = true;
  // A signal, not Stop(): that could wait here, under the lock, for an exit only the event loop sees,
  // while the loop's runs wait for the lock. Each run sees its target die, and stops and reaps it
  // itself. Under the lock, so no run can destroy its child meanwhile.
  for (auto* child : children_) (void)child->SignalGroup(SIGKILL);
}

bool ActiveChildren::interrupted() const {
  std::lock_guard lock(mu_);
  return interrupted_;
}

}  // namespace coder::harness
