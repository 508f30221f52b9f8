#pragma once

// Real third-party servers from Debian for the end-to-end tests: where each lives, and a skip with the
// package to install when one is missing (never a fake stand-in).
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace coder::e2e {

/// The absolute path of `program` found in the usual system directories, or "" when it is missing.
std::string SystemProgram(const std::string& program);

/// GTEST_SKIP()s the calling test with "install Debian's PACKAGE" when `path` is empty.
#define CODER_REQUIRE_PROGRAM(path, package)                                                              \
  do {                                                                                                    \
    if ((path).empty()) GTEST_SKIP() << "needs Debian's " << (package) << " (scripts/setup installs it)"; \
  } while (0)

/// Outcome of building a Go program: its path, or why not. `skip` when go cannot be run at all.
struct GoBuild {
  std::optional<std::filesystem::path> binary;
  bool skip = false;
  std::string why;
};

/// Builds the standard-library Go program `source` (one main.go, module `module`) in `dir`, with its
/// own GOCACHE and GOPATH, no proxy (nothing is fetched) and GOTOOLCHAIN unset (no other toolchain is
/// looked for). Debian's Go ships the standard library compiled: a build is a link, seconds.
GoBuild BuildGoProgram(const std::filesystem::path& dir, std::string_view module, std::string_view source);

}  // namespace coder::e2e
