#pragma once

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "harness/analysis/exit_codes.h"
#include "harness/analysis/fingerprint.h"
#include "harness/analysis/gate.h"
#include "harness/experiment/diag_report.h"
#include "harness/experiment/run.h"
#include "harness/experiment/runner.h"
#include "harness/experiment/traffic_flags.h"

namespace coder::harness {

/// `coder diag shutdown` flags as given (durations and lists as text, checked by ParseDiagFlags).
struct DiagFlags {
  std::string self_executable;  ///< the coder binary, launched as the built-in server
  std::string runs = "5";       ///< a count, checked against kMaxRuns
  std::string parallel = "1";   ///< a count, checked against kMaxLive
  std::string gateway = "on,off";
  std::string shutdown_order = "patched";
  std::string websocket_shutdown_timeout;  ///< passed to the built-in server when set
  std::string hold = "0";
  std::string signal = "TERM";
  std::string ready_timeout = "30s";
  std::string kill_after = "30s";
  std::string stack_after;          ///< empty: no stacks are taken
  std::string stack_tool = "auto";  ///< auto, eu-stack or gdb, looked up in PATH
  std::string dump = "auto";        ///< auto, go, jvm, python, node, native or none (DumpChoice::Parse)
  std::string slow_threshold = "5s";
  std::string sample_interval = "10ms";
  std::string known_timeouts = "1s,2s,3s,5s,10s,15s,30s,60s";
  std::string ready_log;
  std::string ready_url;
  std::string ready_tcp;      ///< HOST:PORT
  bool ready_listen = false;  ///< also the default for a foreign target given no --ready-*
  bool ready_notify = false;
  std::string signal_to = "leader";          ///< leader or group
  std::string clean_exit_codes;              ///< comma-separated; empty: 0 and 128 + signal
  std::vector<std::string> env;              ///< NAME=VALUE, {port} and {dir} substituted per run
  std::vector<std::string> templates;        ///< SRC:DEST, rendered into each run's directory
  std::string dir_mode;                      ///< octal, e.g. 0755
  std::vector<std::string> fingerprints;     ///< NAME=REGEX
  std::vector<std::string> no_fingerprints;  ///< built-in line fingerprints switched off
  std::vector<std::string> targets;          ///< NAME=COMMAND ARGS
  std::string baseline;                      ///< a variant name, an order (patched/unpatched), or "none"
  std::string json;
  std::string jsonl;
  std::string junit;
  std::string markdown;
  std::string arrival_interval;  ///< open loop when set
  std::string max_live = "64";   ///< a count, checked against kMaxLive
  std::string memory_budget;     ///< e.g. 17GiB
  std::string assume_rss;        ///< e.g. 7.6GiB
  int suite_stops = 10;
  double regression_ratio = 2.0;
  std::string fail_on = "all";
  std::string history;                            ///< a SQLite file or a postgresql:// URI
  std::string history_since;                      ///< the fix: a commit prefix or a time
  std::vector<std::string> history_fingerprints;  ///< checked since the fix
  std::vector<std::string> history_outcomes;
  std::vector<std::string> command;  ///< the target after --
  std::string log_bytes = "1MiB";    ///< each run's log is bounded to this
  bool keep_logs = false;            ///< keep the whole log of clean runs too
  bool show_output = false;          ///< stream every target's output to stderr
  TrafficFlags traffic;              ///< --client, --load, --client-url, ...
  // Whether the built-in server's options were given on the command line (their defaults cannot tell).
  bool gateway_given = false;
  bool shutdown_order_given = false;
  bool websocket_shutdown_timeout_given = false;
};

/// Bounds on the counts. Every run's record goes to a temporary file (a few KiB, a whole log for one
/// that was not clean) and the harness keeps about 100 bytes a run for exact statistics, so past a
/// million runs a variant would fill the disk and take days. Each live target costs the harness a run thread and four
/// descriptors, and past a thousand servers alive at once the machine, not the servers, is what gets measured.
inline constexpr int kMaxRuns = 1'000'000;
inline constexpr int kMaxLive = 1024;

/// A validated experiment.
struct DiagConfig {
  Runner::Plan plan;
  RunOptions run;
  std::shared_ptr<const FingerprintSet> fingerprints;  ///< compiled once, while the flags are checked
  std::optional<std::filesystem::path> jsonl;
  ReportOptions report;  ///< what is analysed, gated and written once the runs are done
  bool show_output = false;
};

/// Every usage error (bad duration, --runs 0, unknown signal, a target that cannot be executed, an
/// output path in a missing directory) is found here, before anything runs.
Result<DiagConfig> ParseDiagFlags(const DiagFlags& flags);

/// Runs the experiment: launches, measures, prints the live progress and the summary table, writes the
/// reports, and returns the exit code. Must be called before the process has other threads (it blocks
/// SIGINT/SIGTERM/SIGQUIT to receive them on a watcher thread: the first one interrupts, killing every
/// target, and the reports are still written, marked interrupted).
int RunDiagShutdown(const DiagConfig& config, const std::vector<std::string>& command_line);

}  // namespace coder::harness
