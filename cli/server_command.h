#pragma once

#include <CLI/CLI.hpp>

#include "server/options.h"

namespace coder::cli {

/// `coder server`: declares its flags on `parent` and runs the server when selected.
class ServerCommand {
 public:
  explicit ServerCommand(CLI::App& parent);
  bool selected() const { return app_->parsed(); }
  int Run() const;

 private:
  CLI::App* app_;
  server::ServerFlags flags_;
};

}  // namespace coder::cli
