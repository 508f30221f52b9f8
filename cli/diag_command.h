#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "harness/diag.h"

namespace coder::cli {

/// `coder diag shutdown`: declares its flags on `parent` and runs the harness when selected.
class DiagCommand {
 public:
  DiagCommand(CLI::App& parent, std::string self_executable);
  bool selected() const { return shutdown_->parsed(); }
  int Run(const std::vector<std::string>& command_line) const;

 private:
  CLI::App* diag_;
  CLI::App* shutdown_;
  harness::DiagFlags flags_;
};

}  // namespace coder::cli
