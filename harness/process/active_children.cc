#include "harness/process/active_children.h"

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
  // Under the lock, so no run can destroy its child meanwhile; Stop() is safe concurrently with the run's.
  for (auto* child : children_) child->Stop({{StopAction::kKill, std::chrono::seconds(5)}});
}

bool ActiveChildren::interrupted() const {
  std::lock_guard lock(mu_);
  return interrupted_;
}

}  // namespace coder::harness
