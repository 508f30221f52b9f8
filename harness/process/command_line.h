#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace coder::harness {

/// Splits a command into words as a POSIX shell would, without running one: blanks separate words,
/// 'single quotes' keep everything literally, "double quotes" keep blanks and honour \" \\ \$ \`, and a
/// backslash outside quotes escapes the next character. No expansion of any kind. An unterminated quote
/// or a trailing backslash is an Error.
Result<std::vector<std::string>> SplitCommandLine(std::string_view text);

}  // namespace coder::harness
