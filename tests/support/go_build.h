#pragma once

// Go programs the tests and benchmarks build at run time with Debian's golang-go: real Go servers, no
// module fetched.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace coder::test_support {

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

}  // namespace coder::test_support
