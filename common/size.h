#pragma once

#include <cstdint>
#include <string_view>

#include "common/result.h"

namespace coder {

/// Parses a size in bytes: a decimal number with an optional unit, such as "17GiB", "7.6GiB", "512MiB",
/// "100KiB", "1.5GB", "123B" or "123". Binary units KiB, MiB, GiB, TiB, PiB are powers of 1024; decimal
/// units kB (or KB), MB, GB, TB, PB are powers of 1000; B or no unit is bytes (so every size a report
/// prints parses back). A fraction is allowed with a unit
/// and rounded to the nearest byte (7.6GiB is 8160437862); a plain byte count must be whole. The number
/// is digits with an optional '.' and more digits, with no sign or spaces. Empty, negative, malformed,
/// unknown units and values above UINT64_MAX are errors whose message quotes the text and gives
/// examples. Pure function; thread-safe.
Result<uint64_t> ParseSize(std::string_view text);

}  // namespace coder
