#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace coder::server {

/// A wait group whose members are named slots, so a wait that times out can say who it waited on.
/// Thread-safe. Done() on an unknown or already released slot is a no-op, so a slot released after a
/// timed-out wait is safe.
class WaitGroup {
 public:
  using SlotId = uint64_t;
  using Clock = std::chrono::steady_clock;

  struct Holder {
    std::string name;
    Clock::time_point since;
  };

  SlotId Add(std::string name);
  void Done(SlotId id);

  /// Blocks until no slot is held or the deadline passes. Returns the names of the slots still held,
  /// oldest first: empty means everything was released.
  std::vector<std::string> WaitUntil(Clock::time_point deadline);

  std::vector<Holder> Held() const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable released_;
  std::map<SlotId, Holder> slots_;  // ordered by id, so by age
  SlotId next_id_ = 1;
};

/// Holds one slot of a WaitGroup for its lifetime. Release() is idempotent and may come early.
/// Movable, not copyable; the WaitGroup must outlive it. Not thread-safe itself.
class WaitGroupSlot {
 public:
  WaitGroupSlot() = default;
  WaitGroupSlot(WaitGroup& group, std::string name) : group_(&group), id_(group.Add(std::move(name))) {}
  WaitGroupSlot(WaitGroupSlot&& other) noexcept : group_(other.group_), id_(other.id_) { other.group_ = nullptr; }
  WaitGroupSlot& operator=(WaitGroupSlot&& other) noexcept {
    if (this != &other) {
      Release();
      group_ = other.group_;
      id_ = other.id_;
      other.group_ = nullptr;
    }
    return *this;
  }
  WaitGroupSlot(const WaitGroupSlot&) = delete;
  WaitGroupSlot& operator=(const WaitGroupSlot&) = delete;
  ~WaitGroupSlot() { Release(); }

  void Release() {
    if (group_ != nullptr) group_->Done(id_);
    group_ = nullptr;
  }
  bool held() const { return group_ != nullptr; }

 private:
  WaitGroup* group_ = nullptr;
  WaitGroup::SlotId id_ = 0;
};

}  // namespace coder::server
