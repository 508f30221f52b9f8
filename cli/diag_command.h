#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "cli/history_command.h"
#include "harness/experiment/diag.h"

namespace coder::cli {

/// `coder diag shutdown`: declares its flags on `parent` and runs the harness when selected.
class DiagCommand {
 public:
  DiagCommand(CLI::App& parent, std::string self_executable);
  bool selected() const { return shutdown_->parsed() || merge_->parsed() || history_.selected(); }
  int Run(const std::vector<std::string>& command_line) const;
  /// For a command line CLI11 refused: when `coder diag shutdown` was given a target's command without
  /// -- before it, the hint that says so ("put -- before the target's command: ..."); else nullopt.
  std::optional<std::string> MissingSeparatorHint(const std::vector<std::string>& argv) const;

 private:
  int RunSelected(const std::vector<std::string>& command_line) const;
  int RunMerge(const std::vector<std::string>& command_line) const;

  CLI::App* diag_;
  CLI::App* shutdown_;
  CLI::App* merge_;
  HistoryCommand history_;
  harness::DiagFlags flags_;
  CLI::Option* gateway_option_ = nullptr;
  CLI::Option* shutdown_order_option_ = nullptr;
  CLI::Option* websocket_timeout_option_ = nullptr;
  // coder diag merge
  std::vector<std::string> merge_inputs_;
  std::string merge_json_, merge_junit_, merge_markdown_, merge_fail_on_ = "all";
  int merge_suite_stops_ = 10;
  double merge_regression_ratio_ = 2.0;
};

}  // namespace coder::cli
