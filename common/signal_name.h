#pragma once

#include <string.h>

#include <string>

namespace coder {

/// "SIGTERM", or "signal 64" for one without a name. Thread-safe.
inline std::string SignalName(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

}  // namespace coder
