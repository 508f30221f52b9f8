// The `coder` binary: CLI11 wiring only. Each subcommand lives in its own file.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/server_command.h"

namespace {
constexpr int kExitUsage = 2;
}

int main(int argc, char** argv) {
  CLI::App app{"coder: a server, and a harness that finds graceful-shutdown tails in any server", "coder"};
  app.require_subcommand(1);
  app.set_version_flag("--version", CODER_VERSION);
  coder::cli::ServerCommand server(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    fmt::print(stderr, "coder: {}\nRun 'coder --help' or 'coder <command> --help' for usage.\n", e.what());
    return kExitUsage;
  }
  if (server.selected()) return server.Run();
  return kExitUsage;
}
