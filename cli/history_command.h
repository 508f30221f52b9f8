#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "harness/history/history_commands.h"

namespace coder::cli {

/// `coder diag history ingest|check|show`: declares their flags under `diag` and runs the one selected.
class HistoryCommand {
 public:
  explicit HistoryCommand(CLI::App& diag);
  bool selected() const { return history_->parsed(); }
  int Run() const;

 private:
  CLI::App* history_;
  CLI::App* ingest_;
  CLI::App* check_;
  CLI::App* show_;
  harness::HistoryIngestConfig ingest_config_;
  harness::HistoryCheckConfig check_config_;
  harness::HistoryShowConfig show_config_;
  std::string fingerprint_, outcome_, variant_, branch_;
  std::string show_variant_, show_branch_, show_by_ = "commit";
};

}  // namespace coder::cli
