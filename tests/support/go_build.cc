#include "tests/support/go_build.h"

#include <chrono>
#include <fstream>
#include <vector>

#include "harness/process/child_process.h"
#include "harness/process/spawn.h"
#include "tests/support/wait.h"

namespace coder::test_support {

GoBuild BuildGoProgram(const std::filesystem::path& dir, std::string_view module, std::string_view source) {
  auto go = harness::ResolveExecutable("go", harness::ChildPath({}));
  if (!go)
    return {.skip = true, .why = go.error().message + " (Debian: apt-get install golang-go; scripts/setup does)"};
  auto env = harness::ResolveExecutable("env", harness::ChildPath({}));
  if (!env) return {.why = env.error().message};
  const auto src = dir / "gosrc";
  std::filesystem::create_directories(src);
  std::ofstream(src / "go.mod") << "module " << module << "\n\ngo 1.19\n";
  std::ofstream(src / "main.go") << source;
  auto run_go = [&](std::vector<std::string> args) -> std::pair<std::optional<harness::ExitStatus>, std::string> {
    harness::LaunchSpec spec;
    spec.argv = {*env,
                 "-u",
                 "GOTOOLCHAIN",
                 "GOCACHE=" + (dir / "gocache").string(),
                 "GOPATH=" + (dir / "gopath").string(),
                 "GOFLAGS=-mod=mod",
                 "GOPROXY=off",
                 *go};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.working_dir = src;
    auto child = harness::ChildProcess::Start(std::move(spec));
    if (!child) return {std::nullopt, child.error().message};
    auto exit = (*child)->WaitUntil(In(std::chrono::seconds(40)));
    (*child)->Stop();
    return {exit, (*child)->Output()};
  };
  if (auto [exit, out] = run_go({"version"}); !exit || exit->signaled || exit->code != 0)
    return {.skip = true, .why = "go is installed but `go version` fails: " + out};
  const auto binary = dir / std::string(module);
  if (auto [exit, out] = run_go({"build", "-o", binary.string(), "."}); !exit || exit->signaled || exit->code != 0)
    return {.why = "go build of a standard-library program failed: " + out};
  return {.binary = binary};
}

}  // namespace coder::test_support
