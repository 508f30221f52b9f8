#pragma once

#include <mutex>
#include <set>

#include "harness/process/child_process.h"

namespace coder::harness {

/// The children of runs in progress, so that an interrupt on another thread can kill them. Thread-safe.
/// After StopAll, a child added later is stopped at once.
class ActiveChildren {
 public:
  /// False if the harness is already interrupted (the child was stopped).
  bool Add(ChildProcess* child);
  void Remove(ChildProcess* child);
  void StopAll();
  bool interrupted() const;

 private:
  mutable std::mutex mu_;
  std::set<ChildProcess*> children_;
  bool interrupted_ = false;
};

}  // namespace coder::harness
