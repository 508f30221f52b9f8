#pragma once

#include <mutex>
#include <set>

#include "harness/process/child_process.h"

namespace coder::harness {

/// The children of runs in progress, so that an interrupt on another thread can kill them. Thread-safe;
/// no method waits for a child. StopAll SIGKILLs every registered child's process group (each run then
/// stops and reaps its own); Add refuses a child once interrupted.
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
