#include "cli/diag_command.h"

#include <fmt/format.h>

namespace coder::cli {

DiagCommand::DiagCommand(CLI::App& parent, std::string self_executable)
    : diag_(parent.add_subcommand("diag", "Diagnose servers")),
      shutdown_(diag_->add_subcommand(
          "shutdown",
          "Launch a server repeatedly, signal it, and measure its graceful shutdown: latency, peak RSS, "
          "timeout fingerprints. By default the built-in coder server; any other after --")) {
  diag_->require_subcommand(1);
  auto& f = flags_;
  f.self_executable = std::move(self_executable);
  auto* s = shutdown_;
  s->add_option("--runs", f.runs, "Runs per variant")->capture_default_str();
  s->add_option("--parallel", f.parallel, "Targets alive at once")->capture_default_str();
  s->add_option("--gateway", f.gateway, "Built-in server: AI gateway on, off or both (on,off)")->capture_default_str();
  s->add_option("--shutdown-order", f.shutdown_order, "Built-in server: patched, unpatched or both")
      ->capture_default_str();
  s->add_option("--websocket-shutdown-timeout", f.websocket_shutdown_timeout,
                "Built-in server: its WebSocket wait timeout (default: the server's, 10s)");
  s->add_option("--hold", f.hold, "Time between ready and the stop signal")->capture_default_str();
  s->add_option("--signal", f.signal, "Stop signal: TERM or INT (also HUP, QUIT, USR1, USR2)")->capture_default_str();
  s->add_option("--ready-timeout", f.ready_timeout, "A target not ready by then is never-ready")->capture_default_str();
  s->add_option("--kill-after", f.kill_after, "Watchdog: SIGKILL this long after the stop signal")->capture_default_str();
  s->add_option("--slow-threshold", f.slow_threshold, "A clean stop slower than this is slow")->capture_default_str();
  s->add_option("--sample-interval", f.sample_interval, "RSS sampling period")->capture_default_str();
  s->add_option("--known-timeouts", f.known_timeouts,
                "Comma-separated timeouts a latency is checked against (latency-at-known-timeout)")
      ->capture_default_str();
  s->add_option("--ready-log", f.ready_log,
                "RE2 regex of the output line that means ready (default: 'Started HTTP listener at ')");
  s->add_option("--ready-url", f.ready_url, "http:// URL that answers 2xx once ready ({port} is substituted)");
  s->add_option("--fingerprint", f.fingerprints, "NAME=REGEX (RE2) flagged when an output line matches; repeatable")
      ->take_all();
  s->add_option("--target", f.targets, "NAME='COMMAND ARGS' to launch instead of the built-in server; repeatable")
      ->take_all();
  s->add_option("--baseline", f.baseline,
                "Variant reported for comparison and never gated (default: unpatched; none: gate everything)");
  s->add_option("--json", f.json, "Write the full report (every run) as JSON");
  s->add_option("--jsonl", f.jsonl, "Append each run as one JSON line as soon as it ends");
  s->add_option("command", f.command, "The target command after --; {port} and {dir} are substituted per run");
}

int DiagCommand::Run(const std::vector<std::string>& command_line) const {
  auto config = harness::ParseDiagFlags(flags_);
  if (!config) {
    fmt::print(stderr, "coder diag shutdown: {}\n", config.error().message);
    return harness::kDiagUsage;
  }
  return harness::RunDiagShutdown(*config, command_line);
}

}  // namespace coder::cli
