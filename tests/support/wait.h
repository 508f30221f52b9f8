#pragma once

#include <chrono>
#include <thread>

namespace coder::test_support {

/// The deadline `d` from now.
inline std::chrono::steady_clock::time_point In(std::chrono::steady_clock::duration d) {
  return std::chrono::steady_clock::now() + d;
}

/// Waits for a condition that nothing can notify (the state of /proc, a file): re-checks it every
/// millisecond or so until `deadline`. Returns whether it became true.
template <class Pred>
bool Eventually(Pred pred, std::chrono::steady_clock::time_point deadline) {
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace coder::test_support
