#include "common/time_format.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace coder {

std::string Rfc3339Utc(std::chrono::system_clock::time_point t, bool millis) {
  const auto seconds = fmt::gmtime(std::chrono::system_clock::to_time_t(t));
  if (!millis) return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", seconds);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()) % 1000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", seconds, ms.count());
}

}  // namespace coder
