#pragma once

#include <algorithm>
#include <chrono>
#include <thread>

namespace coder::test_support {

/// The deadline `d` from now.
inline std::chrono::steady_clock::time_point In(std::chrono::steady_clock::duration d) {
  return std::chrono::steady_clock::now() + d;
}

/// Waits for a condition that nothing can notify (the state of /proc, a file) until `deadline`: the
/// condition is checked at once, then again at growing intervals (1 ms doubling to 16 ms, so a loaded
/// machine is not polled hard), the last check at the deadline itself. Returns whether it became true.
template <class Pred>
bool Eventually(Pred pred, std::chrono::steady_clock::time_point deadline) {
  auto interval = std::chrono::milliseconds(1);
  while (!pred()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    std::this_thread::sleep_until(std::min(deadline, now + interval));
    interval = std::min(interval * 2, std::chrono::milliseconds(16));
  }
  return true;
}

}  // namespace coder::test_support
