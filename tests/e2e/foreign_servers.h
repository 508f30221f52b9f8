#pragma once

// Real third-party servers from Debian for the end-to-end tests: where each lives, and a skip with the
// package to install when one is missing (never a fake stand-in).
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "tests/support/go_build.h"

namespace coder::e2e {

/// The absolute path of `program` found in the usual system directories, or "" when it is missing.
std::string SystemProgram(const std::string& program);

/// GTEST_SKIP()s the calling test with "install Debian's PACKAGE" when `path` is empty.
#define CODER_REQUIRE_PROGRAM(path, package)                                                              \
  do {                                                                                                    \
    if ((path).empty()) GTEST_SKIP() << "needs Debian's " << (package) << " (scripts/setup installs it)"; \
  } while (0)

using test_support::BuildGoProgram;
using test_support::GoBuild;

}  // namespace coder::e2e
