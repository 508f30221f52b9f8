#include "server/wait_group.h"

namespace coder::server {

WaitGroup::SlotId WaitGroup::Add(std::string name) {
  std::lock_guard lock(mu_);
  const SlotId id = next_id_++;
  slots_.emplace(id, Holder{std::move(name), Clock::now()});
  return id;
}

void WaitGroup::Done(SlotId id) {
  std::lock_guard lock(mu_);
  if (slots_.erase(id) > 0 && slots_.empty()) released_.notify_all();
}

std::vector<std::string> WaitGroup::WaitUntil(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  released_.wait_until(lock, deadline, [&] { return slots_.empty(); });
  std::vector<std::string> held;
  held.reserve(slots_.size());
  for (const auto& [id, holder] : slots_) held.push_back(holder.name);
  return held;
}

std::vector<WaitGroup::Holder> WaitGroup::Held() const {
  std::lock_guard lock(mu_);
  std::vector<Holder> out;
  out.reserve(slots_.size());
  for (const auto& [id, holder] : slots_) out.push_back(holder);
  return out;
}

size_t WaitGroup::size() const {
  std::lock_guard lock(mu_);
  return slots_.size();
}

}  // namespace coder::server
