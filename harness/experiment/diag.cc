#include "harness/experiment/diag.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>
#include <set>
#include <utility>

#include "common/duration.h"
#include "common/signal_watcher.h"
#include "common/size.h"
#include "common/terminal_text.h"
#include "common/time_format.h"
#include "harness/analysis/fingerprint.h"
#include "harness/analysis/run_output.h"
#include "harness/analysis/stats.h"
#include "harness/builtin/builtin_server.h"
#include "harness/experiment/diag_report.h"
#include "harness/experiment/progress_line.h"
#include "harness/history/history_commands.h"
#include "harness/measure/http_probe.h"
#include "harness/measure/readiness.h"
#include "harness/process/command_line.h"
#include "harness/process/keeper.h"
#include "harness/process/spawn.h"
#include "harness/process/subreaper.h"
#include "harness/report/annotations.h"
#include "harness/report/report.h"
#include "harness/report/run_store.h"

namespace coder::harness {
namespace {

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) items.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return items;
}

Result<std::chrono::milliseconds> Millis(std::string_view flag, const std::string& text) {
  auto d = ParseDuration(text);
  if (!d) return Error{fmt::format("--{}: {}", flag, d.error().message)};
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

/// A count flag: a whole number from 1 to `max`, also in exponent form ("1e6"), checked before any
/// allocation it sizes. `what` names the unit and why there is a bound, for the error.
Result<int> ParseCount(std::string_view flag, const std::string& text, int max, std::string_view what) {
  double value = 0;
  const bool digits =
      !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) {
    // A long run of digits is simply too many: no need to parse it exactly.
    value = text.size() > 12 ? 1e13 : std::stod(text);
  } else {
    char* end = nullptr;
    errno = 0;
    value = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value) || value != std::floor(value))
      return Error{fmt::format("--{} {}: want a whole number from 1 to {}", flag, text, max)};
  }
  if (value < 1) return Error{fmt::format("--{}: want at least 1, got {}", flag, text)};
  if (value > max) return Error{fmt::format("--{} {}: at most {} {}", flag, text, max, what)};
  return static_cast<int>(value);
}

Result<int> ParseSignal(const std::string& given) {
  std::string text = given;
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (text.rfind("SIG", 0) == 0) text = text.substr(3);
  static const std::pair<const char*, int> kSignals[] = {{"TERM", SIGTERM}, {"INT", SIGINT},   {"HUP", SIGHUP},
                                                         {"QUIT", SIGQUIT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};
  for (const auto& [name, sig] : kSignals)
    if (text == name) return sig;
  return Error{fmt::format("--signal: unknown signal \"{}\" (want TERM, INT, HUP, QUIT, USR1 or USR2)", given)};
}

/// Finds before anything runs what would stop a report from being written at the end: a missing or
/// unwritable directory (tried by creating a file in it, which also catches a read-only file system and
/// root's access() saying yes to a read-only mount), a directory at the path, and for the reports written
/// atomically (a temporary beside the path renamed over it) anything but a regular file there, which the
/// rename would replace: `--json /dev/full` must not swap the device for a file. A full disk cannot be
/// known in advance; a write that fails later is reported then and nothing measured is lost.
Status CheckOutputPath(std::string_view flag, const std::string& path, bool atomic) {
  if (path.back() == '/') return Error{fmt::format("--{} {}: names a directory, want a file", flag, path)};
  const auto parent = std::filesystem::absolute(path).parent_path();
  std::error_code ec;
  if (!std::filesystem::is_directory(parent, ec))
    return Error{fmt::format("--{} {}: the directory {} does not exist", flag, path, parent.string())};
  const auto status = std::filesystem::status(path, ec);
  if (std::filesystem::is_directory(status))
    return Error{fmt::format("--{} {}: is a directory, want a file", flag, path)};
  const bool special = std::filesystem::exists(status) && !std::filesystem::is_regular_file(status);
  if (special && atomic)
    return Error{
        fmt::format("--{} {}: not a regular file (the report is written beside it and renamed over it)", flag, path)};
  if (!atomic && std::filesystem::is_symlink(std::filesystem::symlink_status(path, ec)) && !IsOwnDescriptorPath(path))
    return Error{
        fmt::format("--{} {}: is a symbolic link, which the harness never writes through (give the file "
                    "itself)",
                    flag, path)};
  if (special) return Ok{};  // a device or a FIFO for the JSON lines: opened as it is
  std::string probe = (parent / ".coder-diag-probe-XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0)
    return Error{fmt::format("--{} {}: cannot write in {}: {}", flag, path, parent.string(), std::strerror(errno))};
  ::close(fd);
  ::unlink(probe.c_str());
  return Ok{};
}

Result<std::vector<VariantSpec>> BuiltinVariants(const DiagFlags& f, std::optional<double> timeout_ms) {
  return builtin::Matrix({.executable = f.self_executable,
                          .orders = SplitList(f.shutdown_order),
                          .gateways = SplitList(f.gateway),
                          .websocket_shutdown_timeout = f.websocket_shutdown_timeout,
                          .websocket_shutdown_timeout_ms = timeout_ms});
}

Result<std::vector<VariantSpec>> ExternalVariants(const DiagFlags& f) {
  std::vector<VariantSpec> variants;
  if (!f.command.empty()) {
    if (!f.targets.empty()) return Error{"give either --target NAME='CMD' or a command after --, not both"};
    VariantSpec v;
    v.name = std::filesystem::path(f.command.front()).filename().string();
    v.labels = {{kTargetLabel, v.name}};
    v.argv = f.command;
    variants.push_back(std::move(v));
  }
  for (const auto& spec : f.targets) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0)
      return Error{fmt::format("--target \"{}\": want NAME='COMMAND ARGS'", spec)};
    auto words = SplitCommandLine(spec.substr(eq + 1));
    if (!words) return Error{fmt::format("--target {}: {}", spec.substr(0, eq), words.error().message)};
    if (words->empty()) return Error{fmt::format("--target {}: the command is empty", spec.substr(0, eq))};
    VariantSpec v;
    v.name = spec.substr(0, eq);
    v.labels = {{kTargetLabel, v.name}};
    v.argv = std::move(*words);
    for (const auto& other : variants)
      if (other.name == v.name) return Error{fmt::format("--target {}: the name is used twice", v.name)};
    variants.push_back(std::move(v));
  }
  return variants;
}

/// The lookup each launch will make, with the PATH the target will get (--env may set one).
Status CheckExecutables(const std::vector<VariantSpec>& variants, const RunOptions& run) {
  for (const auto& v : variants)
    if (auto exe = ResolveExecutable(v.argv.front(), ChildPath(run.env)); !exe)
      return Error{fmt::format("target {}: {}", v.name, exe.error().message)};
  return Ok{};
}

Status ApplyBaseline(const std::string& baseline, std::vector<VariantSpec>& variants, bool builtin_server) {
  if (baseline == "none") return Ok{};
  // The built-in matrix's reference point is reported for comparison, never gated.
  const std::string selector = baseline.empty() && builtin_server ? builtin::kDefaultBaselineOrder : baseline;
  if (selector.empty()) return Ok{};
  bool any = false;
  for (auto& v : variants) {
    if (v.name == selector || (builtin_server && builtin::HasOrder(v, selector))) {
      v.baseline = true;
      v.gated = false;
      any = true;
    }
  }
  if (!any && !baseline.empty()) {
    std::vector<std::string> names;
    for (const auto& v : variants) names.push_back(v.name);
    return Error{fmt::format("--baseline {}: no such variant (variants: {})", baseline, fmt::join(names, "; "))};
  }
  return Ok{};
}

std::string WithPlaceholderPort(std::string text) {
  // Any valid port stands in for {port} while the shape is checked; each run substitutes its own.
  for (size_t at = text.find("{port}"); at != std::string::npos; at = text.find("{port}", at)) text.replace(at, 6, "1");
  return text;
}

/// Every --ready-* condition given must hold. With none, the built-in server is ready at its ready line
/// and any other command once its process tree listens on TCP (on {port} when its arguments use it).
Status ApplyReadiness(const DiagFlags& f, bool builtin_server, RunOptions& run) {
  const bool any =
      !f.ready_log.empty() || !f.ready_url.empty() || !f.ready_tcp.empty() || f.ready_listen || f.ready_notify;
  run.ready_log_regex = any ? f.ready_log : builtin_server ? std::string(builtin::kReadyLine) : std::string();
  run.ready_listen = f.ready_listen || (!any && !builtin_server);
  run.ready_notify = f.ready_notify;
  if (!f.ready_url.empty()) {
    if (auto url = ParseHttpUrl(WithPlaceholderPort(f.ready_url)); !url)
      return Error{fmt::format("--ready-url: {}", url.error().message)};
    run.ready_url = f.ready_url;
  }
  if (!f.ready_tcp.empty()) {
    if (auto tcp = ParseTcpAddress(WithPlaceholderPort(f.ready_tcp)); !tcp)
      return Error{fmt::format("--ready-tcp: {}", tcp.error().message)};
    run.ready_tcp = f.ready_tcp;
  }
  if (!run.ready_log_regex.empty()) {
    auto ready = std::make_shared<const RE2>(run.ready_log_regex, RE2::Quiet);
    if (!ready->ok()) return Error{fmt::format("--ready-log: {}", ready->error())};
    run.ready_log = std::move(ready);
  }
  return Ok{};
}

Status ApplySignalsAndExits(const DiagFlags& f, RunOptions& run) {
  if (f.signal_to == "leader") run.signal_to = RunOptions::SignalTarget::kLeader;
  else if (f.signal_to == "group") run.signal_to = RunOptions::SignalTarget::kGroup;
  else return Error{fmt::format("--signal-to: \"{}\" is not leader or group", f.signal_to)};
  run.clean_exit_codes.clear();
  for (const auto& item : SplitList(f.clean_exit_codes)) {
    int code = -1;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), code);
    if (ec != std::errc() || end != item.data() + item.size() || code < 0 || code > 255)
      return Error{fmt::format("--clean-exit-codes: \"{}\" is not an exit code (0 to 255)", item)};
    run.clean_exit_codes.push_back(code);
  }
  return Ok{};
}

Status ApplyRunSetup(const DiagFlags& f, RunOptions& run) {
  for (const auto& spec : f.env) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) return Error{fmt::format("--env \"{}\": want NAME=VALUE", spec)};
    run.env.emplace_back(spec.substr(0, eq), spec.substr(eq + 1));
  }
  constexpr uintmax_t kMaxTemplateBytes = 1 << 20;
  for (const auto& spec : f.templates) {
    const auto colon = spec.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size())
      return Error{fmt::format("--template \"{}\": want SRC:DEST (DEST relative to the run's directory)", spec)};
    RunOptions::FileTemplate t{spec.substr(0, colon), "", spec.substr(colon + 1)};
    const std::filesystem::path dest(t.dest);
    if (dest.is_absolute() || std::any_of(dest.begin(), dest.end(), [](const auto& part) { return part == ".."; }))
      return Error{
          fmt::format("--template {}: DEST \"{}\" must be a relative path inside the run's directory, "
                      "without ..",
                      spec, t.dest)};
    std::error_code ec;
    if (!std::filesystem::is_regular_file(t.source, ec))
      return Error{fmt::format("--template {}: {} is not a readable regular file", spec, t.source)};
    if (std::filesystem::file_size(t.source, ec) > kMaxTemplateBytes)
      return Error{fmt::format("--template {}: {} is larger than 1 MiB", spec, t.source)};
    std::ifstream in(t.source, std::ios::binary);
    t.text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in && !in.eof()) return Error{fmt::format("--template {}: cannot read {}", spec, t.source)};
    run.templates.push_back(std::move(t));
  }
  if (!f.dir_mode.empty()) {
    unsigned mode = 0;
    auto [end, ec] = std::from_chars(f.dir_mode.data(), f.dir_mode.data() + f.dir_mode.size(), mode, 8);
    if (ec != std::errc() || end != f.dir_mode.data() + f.dir_mode.size() || mode > 07777)
      return Error{fmt::format("--dir-mode: \"{}\" is not an octal mode such as 0755", f.dir_mode)};
    // Anyone who may write into it could plant files or links where the target reads its config.
    if ((mode & 0022) != 0)
      return Error{
          fmt::format("--dir-mode {}: the run's directory must not be writable by group or others", f.dir_mode)};
    if ((mode & 0700) != 0700) return Error{fmt::format("--dir-mode {}: the owner needs rwx (07xx)", f.dir_mode)};
    run.dir_mode = mode;
  }
  return Ok{};
}

/// --runs, --parallel, the durations of a run and --sample-interval.
Status ParseScheduleFlags(const DiagFlags& f, DiagConfig& c) {
  auto runs =
      ParseCount("runs", f.runs, kMaxRuns,
                 "runs per variant (each run's record goes to a temporary file as it ends, so memory stays bounded)");
  if (!runs) return runs.error();
  auto parallel = ParseCount("parallel", f.parallel, kMaxLive,
                             "targets at once (each costs the harness a run thread and four descriptors)");
  if (!parallel) return parallel.error();
  c.plan.runs = *runs;
  c.plan.parallel = *parallel;

  struct DurationFlag {
    std::string_view name;
    const std::string& text;
    std::chrono::milliseconds& out;
  };
  std::chrono::milliseconds sample_interval{};
  for (const DurationFlag& d :
       {DurationFlag{"hold", f.hold, c.run.hold}, DurationFlag{"ready-timeout", f.ready_timeout, c.run.ready_timeout},
        DurationFlag{"kill-after", f.kill_after, c.run.kill_after},
        DurationFlag{"slow-threshold", f.slow_threshold, c.run.slow_threshold},
        DurationFlag{"sample-interval", f.sample_interval, sample_interval}}) {
    auto parsed = Millis(d.name, d.text);
    if (!parsed) return parsed.error();
    d.out = *parsed;
  }
  if (c.run.ready_timeout.count() <= 0) return Error{"--ready-timeout: want a positive duration"};
  if (c.run.kill_after.count() <= 0) return Error{"--kill-after: want a positive duration"};
  if (sample_interval.count() < 1) return Error{"--sample-interval: want at least 1ms"};
  c.plan.sample_interval = sample_interval;
  return Ok{};
}

/// --stack-after, --stack-tool and --dump.
Status ParseStackFlags(const DiagFlags& f, DiagConfig& c) {
  auto dump = DumpChoice::Parse(f.dump);
  if (!dump) return dump.error();
  c.run.dump = *dump;
  if (f.stack_after.empty() && f.dump != "auto") return Error{"--dump: only meaningful with --stack-after"};
  if (!f.stack_after.empty()) {
    auto after = Millis("stack-after", f.stack_after);
    if (!after) return after.error();
    if (after->count() <= 0) return Error{"--stack-after: want a positive duration"};
    // Past the watchdog there is nothing left to look at.
    if (*after >= c.run.kill_after) {
      return Error{
          fmt::format("--stack-after {} is not shorter than --kill-after {}: the watchdog would kill the "
                      "target first",
                      f.stack_after, f.kill_after)};
    }
    auto tool = FindStackTool(f.stack_tool, ChildPath({}));
    if (!tool) return Error{"--stack-after: " + tool.error().message};
    c.run.stack_after = *after;
    c.run.stack_tool = *tool;
  } else if (f.stack_tool != "auto") {
    return Error{"--stack-tool: only meaningful with --stack-after"};
  }
  return Ok{};
}

/// --log-bytes, --keep-logs, --show-output, --signal and --known-timeouts.
Status ParseOutputAndSignalFlags(const DiagFlags& f, DiagConfig& c) {
  {
    // Below a few lines' worth nothing is left to read; above a gigabyte per run the harness itself
    // would be what runs out of memory.
    constexpr uint64_t kMinLogBytes = 4 << 10, kMaxLogBytes = uint64_t{1} << 30;
    auto log_bytes = ParseSize(f.log_bytes);
    if (!log_bytes) return Error{fmt::format("--log-bytes: {}", log_bytes.error().message)};
    if (*log_bytes < kMinLogBytes || *log_bytes > kMaxLogBytes)
      return Error{fmt::format("--log-bytes {}: want from 4KiB to 1GiB", f.log_bytes)};
    c.run.log_capacity_bytes = static_cast<size_t>(*log_bytes);
    c.run.keep_logs = f.keep_logs;
    c.show_output = f.show_output;
  }

  auto sig = ParseSignal(f.signal);
  if (!sig) return sig.error();
  c.run.signal = *sig;

  c.run.known_timeouts_ms.clear();
  for (const auto& t : SplitList(f.known_timeouts)) {
    auto parsed = Millis("known-timeouts", t);
    if (!parsed) return parsed.error();
    c.run.known_timeouts_ms.push_back(static_cast<double>(parsed->count()));
  }
  return Ok{};
}

/// The targets (the built-in matrix, or the user's command or --target list), their baseline,
/// readiness, signals, exit codes, per-run setup and fingerprints.
Status ParseTargetFlags(const DiagFlags& f, DiagConfig& c) {
  std::optional<double> server_timeout_ms;
  if (!f.websocket_shutdown_timeout.empty()) {
    auto parsed = Millis("websocket-shutdown-timeout", f.websocket_shutdown_timeout);
    if (!parsed) return parsed.error();
    server_timeout_ms = static_cast<double>(parsed->count());
  }

  const bool builtin_server = f.command.empty() && f.targets.empty();
  if (!builtin_server) {
    const std::pair<bool, const char*> builtin_only[] = {
        {f.gateway_given, "--gateway"},
        {f.shutdown_order_given, "--shutdown-order"},
        {f.websocket_shutdown_timeout_given, "--websocket-shutdown-timeout"}};
    for (const auto& [given, name] : builtin_only)
      if (given)
        return Error{fmt::format("{} is an option of the built-in server; it does not apply to a target given {}", name,
                                 f.command.empty() ? "with --target" : "after --")};
  }
  auto variants = builtin_server ? BuiltinVariants(f, server_timeout_ms) : ExternalVariants(f);
  if (!variants) return variants.error();
  if (auto ok = ApplyBaseline(f.baseline, *variants, builtin_server); !ok) return ok.error();
  c.plan.variants = std::move(*variants);

  if (auto ok = ApplyReadiness(f, builtin_server, c.run); !ok) return ok.error();
  if (auto ok = ApplySignalsAndExits(f, c.run); !ok) return ok.error();
  if (auto ok = ApplyRunSetup(f, c.run); !ok) return ok.error();
  if (auto ok = CheckExecutables(c.plan.variants, c.run); !ok) return ok.error();

  auto fingerprints = FingerprintSet::Create(f.fingerprints, f.no_fingerprints);
  if (!fingerprints) return fingerprints.error();
  c.fingerprints = std::move(*fingerprints);
  return Ok{};
}

/// --json, --jsonl, --junit, --markdown: writable, and no two on one path.
Status ParseReportFileFlags(const DiagFlags& f, DiagConfig& c) {
  struct OutputFlag {
    std::string_view name;
    const std::string& path;
    std::optional<std::filesystem::path>& out;
    bool atomic;
  };
  for (const OutputFlag& o :
       {OutputFlag{"json", f.json, c.report.json, true}, OutputFlag{"jsonl", f.jsonl, c.jsonl, false},
        OutputFlag{"junit", f.junit, c.report.junit, true},
        OutputFlag{"markdown", f.markdown, c.report.markdown, true}}) {
    if (o.path.empty()) continue;
    if (auto ok = CheckOutputPath(o.name, o.path, o.atomic); !ok) return ok.error();
    o.out = o.path;
  }
  // Two reports on one path would overwrite each other at the end.
  std::set<std::filesystem::path> outputs;
  std::error_code ec;
  for (const auto* out : {&c.report.json, &c.jsonl, &c.report.junit, &c.report.markdown})
    if (*out && !outputs.insert(std::filesystem::weakly_canonical(**out, ec)).second)
      return Error{fmt::format("{}: given for two reports", (*out)->string())};
  return Ok{};
}

/// --arrival-interval, --max-live, and what the report judges: the memory budget, --suite-stops,
/// --regression-ratio, --fail-on.
Status ParseOpenLoopAndReportFlags(const DiagFlags& f, DiagConfig& c) {
  if (!f.arrival_interval.empty()) {
    auto interval = ParseDuration(f.arrival_interval);
    if (!interval) return Error{fmt::format("--arrival-interval: {}", interval.error().message)};
    if (interval->count() <= 0) return Error{"--arrival-interval: want a positive duration"};
    c.plan.arrival_interval = std::chrono::duration_cast<std::chrono::microseconds>(*interval);
  }
  auto max_live = ParseCount("max-live", f.max_live, kMaxLive,
                             "targets at once (each costs the harness a run thread and four descriptors)");
  if (!max_live) return max_live.error();
  c.plan.max_live = *max_live;
  struct SizeFlag {
    std::string_view name;
    const std::string& text;
    std::optional<uint64_t>& out;
  };
  for (const SizeFlag& sf : {SizeFlag{"memory-budget", f.memory_budget, c.report.memory_budget_bytes},
                             SizeFlag{"assume-rss", f.assume_rss, c.report.assume_rss_bytes}}) {
    if (sf.text.empty()) continue;
    auto size = ParseSize(sf.text);
    if (!size) return Error{fmt::format("--{}: {}", sf.name, size.error().message)};
    sf.out = *size;
  }
  if (f.suite_stops < 1) return Error{fmt::format("--suite-stops: want at least 1, got {}", f.suite_stops)};
  c.report.suite_stops = f.suite_stops;
  if (!(f.regression_ratio > 1.0)) return Error{"--regression-ratio: want a ratio above 1, such as 2"};
  c.report.regression_ratio = f.regression_ratio;
  auto fail_on = ParseFailOn(f.fail_on);
  if (!fail_on) return fail_on.error();
  c.report.fail_on = *fail_on;
  return Ok{};
}

/// --history and what it checks. The history is opened here, so that one that cannot be (not a
/// database, a server that refuses) is said before the runs rather than after them.
Status ParseHistoryFlags(const DiagFlags& f, DiagConfig& c) {
  const bool checks = !f.history_fingerprints.empty() || !f.history_outcomes.empty();
  if (f.history.empty()) {
    if (!f.history_since.empty() || checks)
      return Error{"--history-since, --history-fingerprint and --history-outcome need --history"};
    return Ok{};
  }
  if (checks != !f.history_since.empty())
    return Error{checks ? "--history-fingerprint and --history-outcome need --history-since (the fix)"
                        : "--history-since: give what to check, --history-fingerprint or --history-outcome"};
  if (checks && !IsHistorySince(f.history_since))
    return Error{
        fmt::format("--history-since {}: neither a commit (4 to 64 hex digits) nor a time (YYYY-MM-DD or "
                    "RFC 3339)",
                    f.history_since)};
  HistoryRecording recording{.location = f.history, .since = f.history_since};
  // A selector given twice is checked once.
  auto add = [&](RecurrenceSelector::Kind kind, const std::string& name) {
    for (const RecurrenceSelector& s : recording.selectors)
      if (s.kind == kind && s.name == name) return;
    recording.selectors.push_back({kind, name});
  };
  for (const std::string& name : f.history_fingerprints) {
    if (name.empty()) return Error{"--history-fingerprint: a fingerprint's name, found nothing"};
    add(RecurrenceSelector::Kind::kFingerprint, name);
  }
  for (const std::string& name : f.history_outcomes) {
    if (!OutcomeFromString(name))
      return Error{fmt::format("--history-outcome {}: not an outcome (clean, slow, killed-by-watchdog, ...)",
                               TerminalSafe(name))};
    add(RecurrenceSelector::Kind::kOutcome, name);
  }
  if (auto st = ProbeHistory(f.history); !st)
    return Error{fmt::format("--history: {}", WithoutPasswords(st.error().message, f.history))};
  c.report.history = std::move(recording);
  return Ok{};
}

}  // namespace

namespace {

/// --client, --load and their companions, once the targets and the schedule are known.
Status ApplyTrafficFlags(const DiagFlags& f, DiagConfig& c) {
  TrafficContext context;
  context.builtin_server = f.command.empty() && f.targets.empty();
  if (context.builtin_server) context.websocket_path = builtin::kWebsocketPath;
  context.url_source = !c.run.ready_url.empty();
  for (const auto& v : c.plan.variants)
    for (const auto& arg : v.argv) context.url_source = context.url_source || arg.find("{port}") != std::string::npos;
  context.live_targets = c.plan.arrival_interval ? c.plan.max_live : c.plan.parallel;
  return ParseTrafficFlags(f.traffic, context, c.run.traffic);
}

}  // namespace

Result<DiagConfig> ParseDiagFlags(const DiagFlags& f) {
  DiagConfig c;
  // In the order a reader meets them in --help, so the first bad flag named is the first in it.
  for (auto* parse : {ParseScheduleFlags, ParseStackFlags, ParseOutputAndSignalFlags, ParseTargetFlags,
                      ParseReportFileFlags, ParseOpenLoopAndReportFlags, ParseHistoryFlags, ApplyTrafficFlags})
    if (auto ok = parse(f, c); !ok) return ok.error();
  return c;
}

namespace {

/// Says where the stacks of hung runs went; without a JSON or JUnit file to hold them, prints the first
/// run's, so a CI log alone is enough to see where a hang sat.
/// The store for the experiment's runs: in $TMPDIR, else /var/tmp, else /tmp, as sort(1) looks for room.
/// An unusable $TMPDIR fails only the runs that need a private directory there, not the experiment.
Result<std::unique_ptr<RunStore>> OpenRunStore(const std::vector<std::string>& variant_order) {
  std::vector<std::filesystem::path> dirs;
  if (const char* tmpdir = std::getenv("TMPDIR"); tmpdir && *tmpdir) dirs.emplace_back(tmpdir);
  dirs.emplace_back("/var/tmp");
  dirs.emplace_back("/tmp");
  std::string tried;
  for (const auto& dir : dirs) {
    auto store = RunStore::Open(dir, variant_order);
    if (store) return store;
    tried += (tried.empty() ? "" : "; ") + store.error().message;
  }
  return Error{tried};
}

/// The runs that took stacks, as they finish: how many, and the first in report order. Not thread-safe
/// (the runner serialises its OnRunFinished calls).
struct StacksSeen {
  size_t runs = 0;
  std::optional<RunRecord> first;
  std::pair<size_t, int> first_key{};
  std::set<std::string> tools;  // eu-stack, gdb, and the runtimes' ways (sigquit)

  void Add(const RunRecord& r, const std::vector<VariantSpec>& variants) {
    if (r.stacks.empty()) return;
    ++runs;
    for (const ProcessStacks& s : r.stacks) tools.insert(s.tool);
    size_t position = 0;
    while (position < variants.size() && variants[position].name != r.variant) ++position;
    if (!first || std::pair(position, r.index) < first_key) {
      first = r;
      first_key = {position, r.index};
    }
  }
};

void PrintStacksNote(const StacksSeen& seen, const DiagConfig& config) {
  if (seen.runs == 0) return;
  if (config.report.json || config.report.junit) {
    fmt::print(stderr, "coder diag shutdown: stacks of {} hung run{} taken with {}: see runs[].stacks in the {}\n",
               seen.runs, seen.runs == 1 ? "" : "s", fmt::join(seen.tools, " and "),
               config.report.json ? "JSON report" : "JUnit report's system-out");
    return;
  }
  const RunRecord& first = *seen.first;
  fmt::print(stderr, "coder diag shutdown: stacks of {} hung run{} taken with {}; {} #{} (--json keeps them all):\n",
             seen.runs, seen.runs == 1 ? "" : "s", fmt::join(seen.tools, " and "), first.variant, first.index);
  for (const ProcessStacks& s : first.stacks) {
    fmt::print(stderr, "--- process {} ({}) at {:.0f} ms{}{}\n{}", s.pid, s.tool, s.at_ms,
               s.error.empty() ? "" : " (" + TerminalSafe(s.error) + ")",
               s.verdict.empty() ? "" : ": " + TerminalSafe(s.verdict), TerminalSafe(s.text, true));
  }
}

}  // namespace

namespace {

/// A target's output reaches the CI log (the echo of a failed run, --show-output): in GitHub Actions a
/// line of it starting "::error" would be taken for a workflow command, so commands stay off until the
/// harness prints its own annotations. On both streams: either may be the one that reaches the log.
/// The destructor resumes them (an early return too) unless the token was handed to the report.
struct WorkflowCommandsStopped {
  std::string token;
  WorkflowCommandsStopped() {
    if (!GithubActions()) return;
    std::random_device random;
    token = fmt::format("coder-diag-{:08x}{:08x}", random(), random());
    fmt::print("::stop-commands::{}\n", token);
    std::fflush(stdout);
    fmt::print(stderr, "::stop-commands::{}\n", token);
  }
  WorkflowCommandsStopped(const WorkflowCommandsStopped&) = delete;
  WorkflowCommandsStopped& operator=(const WorkflowCommandsStopped&) = delete;
  ~WorkflowCommandsStopped() {
    if (token.empty()) return;
    fmt::print(stderr, "::{}::\n", token);
    fmt::print("::{}::\n", token);
  }
};

/// Routes SIGINT/SIGTERM/SIGQUIT to the runner in progress, or remembers one that came before it
/// started. Thread-safe: the signal watcher's thread calls Interrupt.
class InterruptRouter {
 public:
  void Interrupt(int sig) {
    fmt::print(stderr,
               "\ncoder diag shutdown: {} received: killing the targets of the runs in progress, "
               "writing what was measured\n",
               sig == SIGINT ? "interrupt" : "stop signal");
    std::lock_guard lock(mu_);
    if (runner_) runner_->Interrupt();
    else early_ = true;
  }
  void Attach(Runner& runner) {
    std::lock_guard lock(mu_);
    runner_ = &runner;
    if (early_) runner.Interrupt();
  }
  void Detach() {
    std::lock_guard lock(mu_);
    runner_ = nullptr;
  }

 private:
  std::mutex mu_;
  Runner* runner_ = nullptr;
  bool early_ = false;
};

nlohmann::json TrafficOptionsJson(const TrafficSpec& t) {
  if (!t.any()) return nullptr;
  nlohmann::json clients = nlohmann::json::array();
  for (const auto& c : t.clients) clients.push_back({{"kind", ToString(c.kind)}, {"count", c.count}, {"path", c.path}});
  nlohmann::json headers = nlohmann::json::array();
  // Names only: a header's value is often a secret (a session token).
  for (const auto& [name, value] : t.headers) headers.push_back(name);
  return {{"clients", std::move(clients)},
          {"load", t.load ? nlohmann::json{{"rate_per_s", t.load->rate_per_s ? nlohmann::json(*t.load->rate_per_s)
                                                                             : nlohmann::json("max")},
                                           {"path", t.load->path},
                                           {"connections", t.load->connections}}
                          : nlohmann::json(nullptr)},
          {"url", t.url},
          {"header_names", std::move(headers)},
          {"establish_timeout_ms", t.establish_timeout.count()}};
}

/// The options of a run as the report's meta records them.
nlohmann::json MetaOptions(const DiagConfig& config) {
  return {
      {"runs", config.plan.runs},
      {"parallel", config.plan.parallel},
      {"arrival_interval_ms", config.plan.arrival_interval ? nlohmann::json(config.plan.arrival_interval->count() / 1e3)
                                                           : nlohmann::json(nullptr)},
      {"max_live", config.plan.max_live},
      {"signal", config.run.signal},
      {"signal_to", config.run.signal_to == RunOptions::SignalTarget::kGroup ? "group" : "leader"},
      {"clean_exit_codes", config.run.clean_exit_codes},
      {"ready",
       {{"log", config.run.ready_log_regex},
        {"url", config.run.ready_url},
        {"tcp", config.run.ready_tcp},
        {"listen", config.run.ready_listen},
        {"notify", config.run.ready_notify}}},
      {"hold_ms", config.run.hold.count()},
      {"ready_timeout_ms", config.run.ready_timeout.count()},
      {"kill_after_ms", config.run.kill_after.count()},
      {"stack_after_ms",
       config.run.stack_after ? nlohmann::json(config.run.stack_after->count()) : nlohmann::json(nullptr)},
      {"stack_tool", config.run.stack_after ? nlohmann::json(config.run.stack_tool.path) : nlohmann::json(nullptr)},
      {"dump", config.run.stack_after ? nlohmann::json(config.run.dump.Name()) : nlohmann::json(nullptr)},
      {"slow_threshold_ms", config.run.slow_threshold.count()},
      {"sample_interval_ms", std::chrono::duration<double, std::milli>(config.plan.sample_interval).count()},
      {"known_timeouts_ms", config.run.known_timeouts_ms},
      {"log_bytes", config.run.log_capacity_bytes},
      {"keep_logs", config.run.keep_logs},
      {"traffic", TrafficOptionsJson(config.run.traffic)},
      {"suite_stops", config.report.suite_stops},
      {"regression_ratio", config.report.regression_ratio}};
}

/// The report's meta of an experiment that has run.
ReportMeta MetaOf(const DiagConfig& config, const std::vector<std::string>& command_line, const std::string& started_at,
                  std::chrono::steady_clock::time_point wall_start, const Runner& runner) {
  ReportMeta meta;
  meta.coder_version = CODER_HARNESS_VERSION;
  meta.started_at = started_at;
  meta.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  meta.command_line = command_line;
  meta.interrupted = runner.interrupted();
  meta.options = MetaOptions(config);
  if (meta.interrupted)
    meta.notes.push_back(fmt::format("interrupted: {} planned runs were not recorded", runner.unfinished_runs()));
  meta.notes.push_back(
      "kernel_peak_rss_bytes is the kernel's high-water mark (wait4), which includes the harness's own resident "
      "memory (the target shared it between vfork and execve); tree_peak_rss_bytes is sampled and is the reliable "
      "figure "
      "for targets smaller than the harness");
  return meta;
}

/// Where each finished run goes: the run store, the stacks note, the JSON lines, the progress line and
/// the echo of a failed run's output. Called on the runner's threads one run at a time (the Runner
/// serialises its callback).
struct RunSink {
  RunStore& runs;
  StacksSeen& stacks;
  JsonlWriter* jsonl;
  ProgressLine& progress;
  FailedRunEcho& echo;
  const std::vector<VariantSpec>& variants;
  std::vector<std::string> store_errors;
  std::vector<std::string> write_errors;

  /// What went wrong on the way, as the report's earlier errors (each a harness failure).
  std::vector<std::string> Errors() const {
    std::vector<std::string> out;
    // A lost JSONL line is a harness failure even when everything else went well.
    if (!write_errors.empty())
      out.push_back(fmt::format("{} of {} runs are missing from the JSON lines file (first error: {})",
                                write_errors.size(), runs.size() + store_errors.size(), write_errors.front()));
    // A run the store could not keep is missing from every report: a harness failure, never a clean pass.
    if (!store_errors.empty())
      out.push_back(fmt::format("{} runs could not be kept for the reports (first error: {})", store_errors.size(),
                                store_errors.front()));
    return out;
  }

  void operator()(const RunRecord& r) {
    if (auto ok = runs.Add(r); !ok) store_errors.push_back(ok.error().message);
    stacks.Add(r, variants);
    if (jsonl)
      if (auto ok = jsonl->Append(r); !ok) {
        // Said at once (a full disk should not wait for the end of a long experiment), once.
        if (write_errors.empty())
          fmt::print(stderr, "coder diag shutdown: {}; the runs go on, the other reports will hold them\n",
                     ok.error().message);
        write_errors.push_back(ok.error().message);
      }
    progress.RunFinished(r);
    // The reason a target would not start is usually in its own words: show them now, not only in --json.
    if (auto output = echo.OnRunFinished(r)) progress.Print(*output);
  }
};

}  // namespace

int RunDiagShutdown(const DiagConfig& config, const std::vector<std::string>& command_line) {
  // Longer than most (77 lines) on purpose: it is the experiment's order of setup, each step a few lines
  // with its own failure exit, and the objects it makes (the keeper, the signal watcher, the store) must
  // live until the report is written, which splitting it would hide behind a holder struct.
  const auto wall_start = std::chrono::steady_clock::now();
  const std::string started_at = Rfc3339Utc(std::chrono::system_clock::now());
  // First, while this process has one thread: the keeper is a plain fork.
  const std::string owner_marker = NewExperimentMarker();
  auto keeper = Keeper::Start(owner_marker);
  if (!keeper) {
    fmt::print(stderr, "coder diag shutdown: {}\n", keeper.error().message);
    return kDiagHarnessFailed;
  }
  WorkflowCommandsStopped stopped;

  InterruptRouter interrupts;
  auto watcher =
      SignalWatcher::Start({.on_stop = [&](int sig) { interrupts.Interrupt(sig); },
                            .on_repeat = [](int) { fmt::print(stderr, "coder diag shutdown: already stopping\n"); },
                            .on_quit = [&] { interrupts.Interrupt(SIGQUIT); }});
  if (!watcher) {
    fmt::print(stderr, "coder diag shutdown: {}\n", watcher.error().message);
    return kDiagHarnessFailed;
  }
  // Grandchildren of a target whose parent exits are re-parented to us, so none escapes the group kill.
  if (auto ok = BecomeChildSubreaper(); !ok) {
    fmt::print(stderr, "coder diag shutdown: {}\n", ok.error().message);
    return kDiagHarnessFailed;
  }

  std::unique_ptr<JsonlWriter> jsonl;
  if (config.jsonl) {
    auto opened = JsonlWriter::Open(*config.jsonl);
    if (!opened) {
      fmt::print(stderr, "coder diag shutdown: {}\n", opened.error().message);
      return kDiagHarnessFailed;
    }
    jsonl = std::move(*opened);
  }
  const size_t planned = config.plan.variants.size() * static_cast<size_t>(config.plan.runs);
  ProgressOptions progress_options;
  progress_options.parallel = config.plan.parallel;
  if (config.plan.arrival_interval)
    progress_options.arrival_interval_s = std::chrono::duration<double>(*config.plan.arrival_interval).count();
  progress_options.show_output = config.show_output;
  auto progress_line =
      std::make_shared<ProgressLine>(STDERR_FILENO, ::isatty(STDERR_FILENO) == 1, planned, progress_options);
  ProgressLine& progress = *progress_line;
  RunOptions run_options = config.run;
  run_options.observer = progress_line;
  run_options.owner_marker = owner_marker;
  FailedRunEcho echo;
  // Every run goes to a file as it finishes, so memory stays bounded whatever the run count.
  std::vector<std::string> variant_order;
  for (const VariantSpec& v : config.plan.variants) variant_order.push_back(v.name);
  auto store = OpenRunStore(variant_order);
  if (!store) {
    fmt::print(stderr, "coder diag shutdown: {}\n", store.error().message);
    return kDiagHarnessFailed;
  }
  std::shared_ptr<RunStore> runs = std::move(*store);
  StacksSeen stacks;
  RunSink sink{*runs, stacks, jsonl.get(), progress, echo, config.plan.variants, {}, {}};
  Runner runner(config.plan, run_options, config.fingerprints, [&](const RunRecord& r) { sink(r); });
  interrupts.Attach(runner);
  runner.Run();
  interrupts.Detach();
  progress.Finish();

  Experiment experiment;
  experiment.variants = config.plan.variants;
  experiment.runs = runs;
  experiment.meta = MetaOf(config, command_line, started_at, wall_start, runner);
  ReportOptions report = config.report;
  // From here the report resumes them, right before its annotations.
  report.resume_commands_token = std::exchange(stopped.token, {});
  report.earlier_errors = sink.Errors();
  PrintStacksNote(stacks, config);
  return ReportExperiment(std::move(experiment), report);
}

}  // namespace coder::harness
