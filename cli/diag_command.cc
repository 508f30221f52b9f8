#include "cli/diag_command.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string_view>
#include <system_error>

#include "harness/experiment/diag_merge.h"

namespace coder::cli {

DiagCommand::DiagCommand(CLI::App& parent, std::string self_executable)
    : diag_(parent.add_subcommand("diag", "Diagnose servers")),
      shutdown_(diag_->add_subcommand(
          "shutdown",
          "Launch a server repeatedly, signal it, and measure its graceful shutdown: latency, peak RSS, "
          "timeout fingerprints. By default the built-in coder server; any other after --")),
      merge_(diag_->add_subcommand("merge", "Combine JSON reports from several machines or CI shards into one report")),
      history_(*diag_) {
  diag_->require_subcommand(1);
  auto& f = flags_;
  f.self_executable = std::move(self_executable);
  auto* s = shutdown_;
  s->add_option("--runs", f.runs, fmt::format("Runs per variant (1 to {})", harness::kMaxRuns))->capture_default_str();
  s->add_option("--parallel", f.parallel, fmt::format("Targets alive at once (1 to {})", harness::kMaxLive))
      ->capture_default_str();
  gateway_option_ = s->add_option("--gateway", f.gateway, "Built-in server: AI gateway on, off or both (on,off)")
                        ->capture_default_str();
  shutdown_order_option_ =
      s->add_option("--shutdown-order", f.shutdown_order, "Built-in server: patched, unpatched or both")
          ->capture_default_str();
  websocket_timeout_option_ = s->add_option("--websocket-shutdown-timeout", f.websocket_shutdown_timeout,
                                            "Built-in server: its WebSocket wait timeout (default: the server's, 10s)");
  s->add_option("--hold", f.hold, "Time between ready and the stop signal")->capture_default_str();
  s->add_option("--signal", f.signal, "Stop signal: TERM or INT (also HUP, QUIT, USR1, USR2; any case, SIG optional)")
      ->capture_default_str();
  s->add_option("--ready-timeout", f.ready_timeout, "A target not ready by then is never-ready")->capture_default_str();
  s->add_option("--kill-after", f.kill_after, "Watchdog: SIGKILL this long after the stop signal")
      ->capture_default_str();
  s->add_option("--stack-after", f.stack_after,
                "Take every thread's stack of a target still running this long after the stop signal (before "
                "--kill-after), or when it is never ready");
  s->add_option("--stack-tool", f.stack_tool, "auto (eu-stack, else gdb), eu-stack or gdb")->capture_default_str();
  s->add_option("--dump", f.dump,
                "At --stack-after, what a hung process is asked for: auto (each in its own runtime's terms: a Go "
                "program's goroutines through SIGQUIT, a JVM's threads through jcmd, Python's through faulthandler, "
                "a Node.js report; native stacks for the rest), go, jvm, python, node, native (--stack-tool only) "
                "or none")
      ->capture_default_str();
  s->add_option("--slow-threshold", f.slow_threshold, "A clean stop slower than this is slow")->capture_default_str();
  s->add_option("--sample-interval", f.sample_interval, "RSS sampling period")->capture_default_str();
  s->add_option("--known-timeouts", f.known_timeouts,
                "Comma-separated timeouts a latency is checked against (latency-at-known-timeout); the built-in "
                "server's --websocket-shutdown-timeout is added")
      ->capture_default_str();
  s->add_option("--ready-log", f.ready_log,
                "RE2 regex of the output line that means ready (default: 'Started HTTP listener at ')");
  s->add_option("--ready-url", f.ready_url,
                "http:// URL that answers 2xx from the target's own listener once ready ({port} is substituted)");
  s->add_option("--ready-tcp", f.ready_tcp,
                "HOST:PORT that accepts connections on the target's own listener once ready ({port} is substituted)");
  s->add_flag("--ready-listen", f.ready_listen,
              "Ready once a process of the target's tree listens on TCP (on {port} when its arguments use it); "
              "the default for a command after -- given no --ready-* flag");
  s->add_flag("--ready-notify", f.ready_notify,
              "Ready on READY=1 through $NOTIFY_SOCKET (systemd's sd_notify); STOPPING=1 is recorded");
  s->add_option("--signal-to", f.signal_to,
                "leader: the stop signal to the leader only (as docker, Kubernetes); group: to its process group "
                "(as systemd), the stop lasting until the whole group is gone")
      ->capture_default_str();
  s->add_option("--clean-exit-codes", f.clean_exit_codes,
                "Comma-separated exit codes that count as a clean stop (default: 0 and 128 + the stop signal)");
  // One value per occurrence: a list option would also swallow the target's words after --.
  s->add_option("--env", f.env, "NAME=VALUE for every target ({port} and {dir} are substituted); repeatable")
      ->allow_extra_args(false)
      ->take_all();
  s->add_option("--template", f.templates,
                "SRC:DEST renders file SRC into each run's directory as DEST, with {port} and {dir} substituted; "
                "repeatable")
      ->allow_extra_args(false)
      ->take_all();
  s->add_option("--client", f.traffic.clients,
                "KIND:COUNT[:PATH]: COUNT connections held from ready through the stop, confirmed before the "
                "signal: idle (keep-alive, one request answered), silent (connected, nothing sent), inflight (a "
                "request whose answer is read only after the signal), websocket (upgraded, waiting for the close "
                "frame); repeatable")
      ->allow_extra_args(false)
      ->take_all();
  s->add_option("--load", f.traffic.load,
                "RATE/s:PATH (e.g. 500/s:/healthz): open-loop requests from ready until the target exits, each "
                "given one fate; max:PATH as fast as the connections allow");
  s->add_option("--load-connections", f.traffic.load_connections, "Keep-alive connections the --load uses")
      ->capture_default_str();
  s->add_option("--client-url", f.traffic.url,
                "Where --client and --load go (default: the origin of --ready-url, else http://127.0.0.1:{port}, "
                "else the built-in server's announced URL)");
  s->add_option("--client-header", f.traffic.headers,
                "NAME:VALUE sent on every --client and --load request ({port} and {dir} substituted); repeatable")
      ->allow_extra_args(false)
      ->take_all();
  s->add_option("--client-timeout", f.traffic.timeout,
                "How long the --client connections may take to be established after ready; a run whose clients "
                "were not is clients-not-established")
      ->capture_default_str();
  s->add_option("--dir-mode", f.dir_mode,
                "Mode of each run's directory (default 0700), e.g. 0755 for servers whose workers drop privileges");
  s->add_option("--fingerprint", f.fingerprints, "NAME=REGEX (RE2) flagged when an output line matches; repeatable")
      ->allow_extra_args(false)
      ->take_all();
  s->add_option("--no-fingerprint", f.no_fingerprints,
                "Switch off a built-in line fingerprint by name (e.g. timed-out, deadline-exceeded); repeatable")
      ->take_all();
  s->add_option("--target", f.targets, "NAME='COMMAND ARGS' to launch instead of the built-in server; repeatable")
      ->allow_extra_args(false)
      ->take_all();
  s->add_option("--baseline", f.baseline,
                "Variant reported for comparison and never gated (default: unpatched; none: gate everything)");
  s->add_option("--json", f.json, "Write the full report (every run) as JSON");
  s->add_option("--jsonl", f.jsonl, "Append each run as one JSON line as soon as it ends");
  s->add_option("--junit", f.junit, "Write a JUnit XML report (a test case per variant and per failing run)");
  s->add_option("--markdown", f.markdown, "Write a Markdown report (also appended to $GITHUB_STEP_SUMMARY when set)");
  s->add_option("--history", f.history,
                "Ingest the runs into this history (a SQLite file, created when missing, or a postgresql:// URI) "
                "and carry its verdicts in the reports");
  s->add_option("--history-since", f.history_since,
                "The fix the history is checked against: a commit (a prefix of its hash) or a time (YYYY-MM-DD)");
  s->add_option("--history-fingerprint", f.history_fingerprints,
                "Check in each variant whether this fingerprint stopped recurring since the fix; repeatable")
      ->allow_extra_args(false);
  s->add_option("--history-outcome", f.history_outcomes,
                "Check whether this outcome (killed-by-watchdog, crashed, ...) stopped recurring; repeatable")
      ->allow_extra_args(false);
  s->add_option("--arrival-interval", f.arrival_interval,
                "Open loop: launch a target every interval whether or not earlier ones have exited");
  s->add_option("--max-live", f.max_live,
                fmt::format("Open loop: at most this many targets alive at once (1 to {})", harness::kMaxLive))
      ->capture_default_str();
  s->add_option("--memory-budget", f.memory_budget, "Flag a peak of live targets' summed RSS over this (e.g. 17GiB)");
  s->add_option("--assume-rss", f.assume_rss, "Project the same schedule with every target this heavy (e.g. 7.6GiB)");
  s->add_option("--suite-stops", f.suite_stops, "Stops in a test suite, for the projected shutdown wall time")
      ->capture_default_str();
  s->add_option("--regression-ratio", f.regression_ratio,
                "A p95 latency ratio against the baseline whose 95% interval lies above this is a regression")
      ->capture_default_str();
  s->add_option(
       "--fail-on", f.fail_on,
       "What gates: all, none, or fingerprint,slow,watchdog,crash,never-ready,failed-to-start,budget,regression,"
       "fixed-tail")
      ->capture_default_str();
  s->add_option("--log-bytes", f.log_bytes,
                "Bound on each run's kept output (its whole log, in the reports of runs that were not clean)")
      ->capture_default_str();
  s->add_flag("--keep-logs", f.keep_logs, "Keep the whole log of clean runs too (JSON, JSON lines)");
  s->add_flag("--show-output", f.show_output, "Stream every target's output to stderr as it is read");
  s->add_option("command", f.command, "The target command after --; {port} and {dir} are substituted per run");

  merge_->add_option("reports", merge_inputs_, "JSON reports written by coder diag shutdown --json")
      ->required()
      ->check(CLI::ExistingFile);
  merge_->add_option("--json", merge_json_, "Write the merged report as JSON");
  merge_->add_option("--junit", merge_junit_, "Write a JUnit XML report");
  merge_->add_option("--markdown", merge_markdown_, "Write a Markdown report");
  merge_->add_option("--fail-on", merge_fail_on_, "What gates (as for shutdown)")->capture_default_str();
  merge_->add_option("--suite-stops", merge_suite_stops_, "Stops in a test suite")->capture_default_str();
  merge_->add_option("--regression-ratio", merge_regression_ratio_, "Regression threshold")->capture_default_str();
}

int DiagCommand::RunMerge(const std::vector<std::string>& command_line) const {
  harness::MergeConfig config;
  for (const auto& in : merge_inputs_) config.inputs.emplace_back(in);
  auto fail_on = harness::ParseFailOn(merge_fail_on_);
  if (!fail_on) {
    fmt::print(stderr, "coder diag merge: {}\n", fail_on.error().message);
    return harness::kDiagUsage;
  }
  config.report.fail_on = *fail_on;
  config.report.suite_stops = merge_suite_stops_;
  config.report.regression_ratio = merge_regression_ratio_;
  if (!merge_json_.empty()) config.report.json = merge_json_;
  if (!merge_junit_.empty()) config.report.junit = merge_junit_;
  if (!merge_markdown_.empty()) config.report.markdown = merge_markdown_;
  return harness::RunDiagMerge(config, command_line);
}

int DiagCommand::Run(const std::vector<std::string>& command_line) const {
  // With stdout or stderr closed, the first file the harness opens would take its number and the summary
  // table or the progress would be written into it (a report, the JSON lines).
  for (int fd = 0; fd <= 2; ++fd)
    if (::fcntl(fd, F_GETFD) < 0 && ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) < 0)
      return harness::kDiagHarnessFailed;
  try {
    return RunSelected(command_line);
  } catch (const std::system_error& e) {
    // fmt throws when stdout or stderr cannot be written (a full disk); the reports were written first.
    const std::string message = fmt::format("coder diag: {}\n", e.what());
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, message.data(), message.size());
    return harness::kDiagHarnessFailed;
  }
}

namespace {

// A word as a POSIX shell would need it to pass it through unchanged.
std::string ShellWord(const std::string& word) {
  const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("_./:=@%+,-{}").find(c) != std::string_view::npos;
  });
  if (plain) return word;
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string SeparatorHint(const std::vector<std::string>& command) {
  std::string words;
  for (const auto& w : command) words += " " + ShellWord(w);
  return "put -- before the target's command: coder diag shutdown [OPTIONS] --" + words;
}

}  // namespace

std::optional<std::string> DiagCommand::MissingSeparatorHint(const std::vector<std::string>& argv) const {
  if (argv.size() < 4 || argv[1] != "diag" || argv[2] != "shutdown") return std::nullopt;
  for (size_t i = 3; i < argv.size(); ++i) {
    const std::string& word = argv[i];
    if (word == "--") return std::nullopt;
    if (word.size() > 1 && word[0] == '-') {
      if (word.find('=') != std::string::npos) continue;
      const CLI::Option* option = shutdown_->get_option_no_throw(word);
      // Unknown options are CLI11's to report; a known one with a value takes the next word.
      if (option && option->get_items_expected_max() != 0) ++i;
      continue;
    }
    return SeparatorHint(std::vector<std::string>(argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end()));
  }
  return std::nullopt;
}

int DiagCommand::RunSelected(const std::vector<std::string>& command_line) const {
  if (merge_->parsed()) return RunMerge(command_line);
  if (history_.selected()) return history_.Run();
  harness::DiagFlags flags = flags_;
  // Without --, the target's own flags would be read as ours (or refused as unknown).
  if (!flags.command.empty() && std::find(command_line.begin(), command_line.end(), "--") == command_line.end()) {
    fmt::print(stderr, "coder diag shutdown: {}\n", SeparatorHint(flags.command));
    return harness::kDiagUsage;
  }
  flags.gateway_given = gateway_option_->count() > 0;
  flags.shutdown_order_given = shutdown_order_option_->count() > 0;
  flags.websocket_shutdown_timeout_given = websocket_timeout_option_->count() > 0;
  auto config = harness::ParseDiagFlags(flags);
  if (!config) {
    fmt::print(stderr, "coder diag shutdown: {}\n", config.error().message);
    return harness::kDiagUsage;
  }
  return harness::RunDiagShutdown(*config, command_line);
}

}  // namespace coder::cli
