// The `coder` binary: CLI11 wiring only. Each subcommand lives in its own file.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/diag_command.h"
#include "cli/server_command.h"
#include "harness/analysis/exit_codes.h"
#include "server/server.h"

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

namespace {

// A usage error exits 2 whichever subcommand the arguments were for, so the two tables must agree.
constexpr int kExitUsage = coder::server::kExitUsage;
static_assert(kExitUsage == coder::harness::kDiagUsage);

/// This binary's own path, so `coder diag shutdown` can launch it as the built-in server.
std::string SelfExecutable(const char* argv0) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(argv0) : self.string();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coder: a server, and a harness that finds graceful-shutdown tails in any server", "coder"};
  app.require_subcommand(1);
  app.set_version_flag("--version", CODER_VERSION);
  coder::cli::ServerCommand server(app);
  coder::cli::DiagCommand diag(app, SelfExecutable(argv[0]));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    fmt::print(stderr, "coder: {}\n", e.what());
    if (auto hint = diag.MissingSeparatorHint(std::vector<std::string>(argv, argv + argc)))
      fmt::print(stderr, "coder diag shutdown: {}\n", *hint);
    fmt::print(stderr, "Run 'coder --help' or 'coder <command> --help' for usage.\n");
    return kExitUsage;
  }
  if (server.selected()) return server.Run();
  if (diag.selected()) return diag.Run(std::vector<std::string>(argv, argv + argc));
  return kExitUsage;
}
