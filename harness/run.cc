#include "harness/run.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <limits>

#include "common/duration.h"
#include "harness/http_probe.h"
#include "harness/subreaper.h"

namespace coder::harness {
namespace {

using Clock = std::chrono::steady_clock;

double MsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}


/// A private directory for one run (the built-in server's --config-dir, or {dir}), removed afterwards.
class RunDir {
 public:
  /// No directory when `wanted` is false: on a file system mounted with `discard` its removal alone
  /// can cost milliseconds, a run's whole budget for a target that exits at once.
  explicit RunDir(bool wanted) {
    if (!wanted) return;
    // As mktemp(1): $TMPDIR when set, else /tmp; a TMPDIR that cannot be used is said, not bypassed.
    const char* tmpdir = std::getenv("TMPDIR");
    const std::filesystem::path base = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
    std::string tmpl = (base / "coder-diag-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) {
      path_ = tmpl;  // mkdtemp creates it 0700
    } else {
      const int err = errno;
      error_ = fmt::format("cannot create the run's private directory in {}: {}", base.string(), std::strerror(err));
    }
  }
  ~RunDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  /// Why a wanted directory could not be made; empty when it was, or was not wanted.
  const std::string& error() const { return error_; }

 private:
  std::filesystem::path path_;
  std::string error_;
};

/// A port free on 127.0.0.1 at this moment, for {port}. Another process may take it before the target
/// binds it; the run then fails to start and says so.
uint16_t FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

std::string Substitute(std::string text, const std::string& key, const std::string& value) {
  for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
    text.replace(at, key.size(), value);
  return text;
}

/// What the output callback gathers while the run goes on; shared with the reader thread.
struct LineState {
  explicit LineState(const FingerprintSet& f) : fingerprints(f) {}
  const FingerprintSet& fingerprints;
  // When the stop signal went out (steady clock ticks; max until then). Lines are judged by their own
  // timestamps: the callback for the ready line can run after the signal it caused.
  std::atomic<Clock::rep> signal_at{std::numeric_limits<Clock::rep>::max()};
  std::atomic<uint64_t> lines{0};
  std::atomic<uint64_t> lines_after_signal{0};
  std::mutex mu;
  std::set<std::string> matched;
  static constexpr size_t kMaxSteps = 256;
  std::vector<StepTiming> steps;
  std::vector<std::string> held_slots;
  std::optional<double> timeout_seconds;

  void OnLine(const OutputLine& line) {
    ++lines;
    if (line.at.time_since_epoch().count() >= signal_at.load()) ++lines_after_signal;
    std::lock_guard lock(mu);
    fingerprints.Scan(line.text, matched);
    // Bounded whatever the target prints: a real plan has a handful of steps, a flood of step lines
    // would otherwise grow the harness (and the run's record) without limit.
    if (steps.size() < kMaxSteps)
      if (auto step = ParseStepLine(line.text)) steps.push_back(std::move(*step));
    if (auto seconds = fingerprints.TimeoutSeconds(line.text)) {
      timeout_seconds = seconds;
      held_slots = ParseHeldSlots(line.text);
    }
  }
};

/// Keeps at most `max` points, merging neighbours into their maximum so that the peak survives.
std::vector<RssPoint> Decimate(std::vector<RssPoint> points, size_t max) {
  if (max == 0 || points.size() <= max) return points;
  const size_t stride = (points.size() + max - 1) / max;
  std::vector<RssPoint> out;
  for (size_t i = 0; i < points.size(); i += stride) {
    RssPoint best = points[i];
    for (size_t j = i; j < std::min(points.size(), i + stride); ++j)
      if (points[j].bytes > best.bytes) best = points[j];
    out.push_back(best);
  }
  return out;
}

/// Every thread's stack of each live process of the child's tree, the leader first.
std::vector<ProcessStacks> TakeStacks(ChildProcess& child, const RunOptions& options, ActiveChildren& active) {
  std::vector<pid_t> pids = LiveDescendants(child.pid());
  std::stable_partition(pids.begin(), pids.end(), [&](pid_t p) { return p == child.pid(); });
  return CaptureStacks(options.stack_tool, pids, child.started_at(), options.stack_limits, active);
}

bool WaitReady(ChildProcess& child, const RunOptions& options, const std::string& ready_url, ActiveChildren& active,
               Clock::time_point* ready_at) {
  const auto deadline = Clock::now() + options.ready_timeout;
  if (!ready_url.empty()) {
    auto url = ParseHttpUrl(ready_url);
    if (!url) return false;
    for (;;) {
      if (active.interrupted() || child.exit_status()) return false;
      const auto now = Clock::now();
      if (now >= deadline) return false;
      const auto attempt = std::min<Clock::duration>(std::chrono::seconds(1), deadline - now);
      auto status = HttpGetStatus(*url, std::chrono::duration_cast<std::chrono::milliseconds>(attempt));
      if (status && *status >= 200 && *status < 300) {
        *ready_at = Clock::now();
        return true;
      }
      // Probing is polling by nature: pause between attempts, waking at once if the target exits.
      child.WaitUntil(std::min(Clock::now() + std::chrono::milliseconds(20), deadline));
    }
  }
  std::optional<RE2> compiled;
  if (!options.ready_log) compiled.emplace(options.ready_log_regex);
  const RE2& ready = options.ready_log ? *options.ready_log : *compiled;
  return child.WaitForLine(
      [&](const OutputLine& line) {
        if (!RE2::PartialMatch(line.text, ready)) return false;
        *ready_at = line.at;
        return true;
      },
      deadline);
}

/// Publishes a run's phases to the observer, if any: kLaunching when made, kFinished when it goes, so
/// every path out of ExecuteRun ends the run for the observer.
class PhaseReport {
 public:
  PhaseReport(RunObserver* observer, const std::string& variant, int index)
      : observer_(observer), variant_(variant), index_(index) {
    Enter(RunPhase::kLaunching);
  }
  ~PhaseReport() { Enter(RunPhase::kFinished); }
  PhaseReport(const PhaseReport&) = delete;
  PhaseReport& operator=(const PhaseReport&) = delete;
  void Enter(RunPhase phase, Clock::time_point since = Clock::now()) {
    if (observer_) observer_->OnPhase(variant_, index_, phase, since);
  }

 private:
  RunObserver* const observer_;
  const std::string& variant_;
  const int index_;
};

void FillFromChild(RunRecord& rec, ChildProcess& child, LineState& state, RssSampler& sampler,
                   const std::optional<ExitStatus>& exit, const RunOptions& options) {
  const auto t0 = child.started_at();
  if (exit) {
    rec.exit = exit->Describe();
    if (exit->signaled) rec.exit_signal = exit->signal;
    else rec.exit_code = exit->code;
    rec.exit_ms = MsBetween(t0, exit->at);
    rec.kernel_peak_rss_bytes = static_cast<uint64_t>(exit->max_rss_kib) * 1024;
  }
  std::vector<RssPoint> points;
  for (const auto& s : sampler.Remove(child.pid())) {
    points.push_back({MsBetween(t0, s.at), s.tree_rss_bytes});
    rec.tree_peak_rss_bytes = std::max(rec.tree_peak_rss_bytes, s.tree_rss_bytes);
  }
  rec.rss_timeline = Decimate(std::move(points), options.max_timeline_points);
  const auto lines = child.Lines();
  const size_t first = lines.size() > options.log_tail_lines ? lines.size() - options.log_tail_lines : 0;
  for (size_t i = first; i < lines.size(); ++i) rec.log_tail.push_back(lines[i].text);
  rec.log_lines = state.lines;
  rec.log_dropped_bytes = child.dropped_bytes();
  // The whole bounded log, timed from the stop signal when there was one (what a hang is read against).
  const Clock::rep signalled = state.signal_at.load();
  const bool was_signalled = signalled != std::numeric_limits<Clock::rep>::max();
  const Clock::time_point zero = was_signalled ? Clock::time_point(Clock::duration(signalled)) : t0;
  RunLog& log = rec.log.emplace();
  log.clock = was_signalled ? LogClock::kSignal : LogClock::kLaunch;
  log.lines.reserve(lines.size());
  for (const OutputLine& line : lines) log.lines.push_back({MsBetween(zero, line.at), line.stream, line.text});
  log.dropped_lines = rec.log_lines > lines.size() ? rec.log_lines - lines.size() : 0;
  log.dropped_bytes = rec.log_dropped_bytes;
  std::lock_guard lock(state.mu);
  rec.steps = state.steps;
  rec.held_slots = state.held_slots;
  rec.fingerprints.assign(state.matched.begin(), state.matched.end());
}

}  // namespace

bool ActiveChildren::Add(ChildProcess* child) {
  std::lock_guard lock(mu_);
  if (interrupted_) return false;
  children_.insert(child);
  return true;
}

void ActiveChildren::Remove(ChildProcess* child) {
  std::lock_guard lock(mu_);
  children_.erase(child);
}

void ActiveChildren::StopAll() {
  std::lock_guard lock(mu_);
  interrupted_ = true;
  // Under the lock, so no run can destroy its child meanwhile; Stop() is safe concurrently with the run's.
  for (auto* child : children_) child->Stop({{StopAction::kKill, std::chrono::seconds(5)}});
}

bool ActiveChildren::interrupted() const {
  std::lock_guard lock(mu_);
  return interrupted_;
}

std::optional<RunRecord> ExecuteRun(const VariantSpec& variant, int index, const RunOptions& options,
                                    const FingerprintSet& fingerprints, RssSampler& sampler, ActiveChildren& active,
                                    std::optional<Clock::time_point> epoch) {
  RunRecord rec;
  rec.variant = variant.name;
  rec.index = index;
  if (active.interrupted()) return std::nullopt;
  PhaseReport phases(options.observer.get(), variant.name, index);

  auto uses = [&](const char* key) {
    return std::any_of(variant.argv.begin(), variant.argv.end(),
                       [key](const std::string& arg) { return arg.find(key) != std::string::npos; });
  };
  RunDir dir(variant.builtin_server || uses("{dir}"));
  if (!dir.error().empty()) {
    rec.outcome = Outcome::kFailedToStart;
    rec.detail = dir.error();
    return rec;
  }
  const bool port_used = uses("{port}") || options.ready_url.find("{port}") != std::string::npos;
  const std::string port = port_used ? std::to_string(FreeLoopbackPort()) : std::string();
  LaunchSpec spec;
  for (const auto& arg : variant.argv) spec.argv.push_back(Substitute(Substitute(arg, "{port}", port), "{dir}", dir.path()));
  if (variant.builtin_server) {
    spec.argv.push_back("--config-dir");
    spec.argv.push_back((dir.path() / "config").string());
  }
  spec.log_capacity_bytes = options.log_capacity_bytes;
  spec.allow_ptrace_by_harness = options.stack_after.has_value();
  // The stop signal was the harness's to send; what Stop() meets afterwards is leftovers to kill.
  spec.stop_plan = {{StopAction::kKill, std::chrono::seconds(5)}};
  const std::string ready_url = Substitute(options.ready_url, "{port}", port);

  auto state = std::make_shared<LineState>(fingerprints);
  auto started = ChildProcess::Start(
      std::move(spec), [state, observer = options.observer, name = variant.name, index](const OutputLine& line) {
        state->OnLine(line);
        if (observer) observer->OnOutput(name, index, line);
      });
  if (!started) {
    rec.outcome = Outcome::kFailedToStart;
    rec.detail = started.error().message;
    return rec;
  }
  std::unique_ptr<ChildProcess> child = std::move(*started);
  struct Registration {
    ActiveChildren& active;
    ChildProcess* child;
    ~Registration() { active.Remove(child); }
  } registration{active, child.get()};
  if (!active.Add(child.get())) return std::nullopt;
  (void)sampler.Add(child->pid());  // a target that already exited has nothing to sample
  const auto t0 = child->started_at();
  if (epoch) rec.launch_ms = MsBetween(*epoch, t0);
  phases.Enter(RunPhase::kWaitingForReady, t0);

  Clock::time_point ready_at;
  if (!WaitReady(*child, options, ready_url, active, &ready_at)) {
    if (active.interrupted()) return std::nullopt;
    // Output ends a moment before the exit is seen; give the exit that moment.
    auto exit = child->WaitUntil(Clock::now() + std::chrono::milliseconds(200));
    // An interrupt in that moment killed it: that exit is ours, not a measurement.
    if (active.interrupted()) return std::nullopt;
    if (!exit) {
      // With no output left the ready line can never come: say so rather than blame the timeout.
      const bool output_closed = ready_url.empty() && child->output_ended();
      if (options.stack_after) rec.stacks = TakeStacks(*child, options, active);
      child->Stop();
      exit = child->exit_status();
      rec.outcome = Outcome::kNeverReady;
      rec.detail = output_closed ? std::string("closed its stdout and stderr without printing the ready line")
                                 : fmt::format("not ready within {}", FormatDuration(options.ready_timeout));
    } else {
      rec.outcome = Outcome::kFailedToStart;
      rec.detail = fmt::format("exited before it was ready: {}", exit->Describe());
    }
    child->Stop();
    FillFromChild(rec, *child, *state, sampler, exit, options);
    return rec;
  }
  rec.ready_ms = MsBetween(t0, ready_at);
  sampler.SampleNow(child->pid());
  if (options.hold.count() > 0) phases.Enter(RunPhase::kHolding, ready_at);

  if (options.hold.count() > 0) {
    if (auto early = child->WaitUntil(Clock::now() + options.hold)) {
      if (active.interrupted()) return std::nullopt;
      child->Stop();
      FillFromChild(rec, *child, *state, sampler, early, options);
      rec.outcome = Outcome::kCrashed;
      rec.detail = fmt::format("exited before the stop signal: {}", early->Describe());
      return rec;
    }
  }
  if (active.interrupted()) return std::nullopt;

  sampler.SampleNow(child->pid());  // the resident set the tail starts from
  const auto signal_at = Clock::now();
  state->signal_at = signal_at.time_since_epoch().count();
  (void)child->Signal(options.signal);  // if it just exited, the wait below reports how
  phases.Enter(RunPhase::kStopping, signal_at);
  rec.signal_ms = MsBetween(t0, signal_at);
  std::optional<ExitStatus> exit;
  if (options.stack_after && *options.stack_after < options.kill_after) {
    exit = child->WaitUntil(signal_at + *options.stack_after);
    // The debugger pauses the target while attached; by now it is past its budget anyway.
    if (!exit && !active.interrupted()) rec.stacks = TakeStacks(*child, options, active);
  }
  if (!exit) exit = child->WaitUntil(signal_at + options.kill_after);
  if (!exit && !active.interrupted()) {
    rec.watchdog_fired = true;
    (void)child->SignalGroup(SIGKILL);
    exit = child->WaitUntil(Clock::now() + std::chrono::seconds(10));
  }
  if (active.interrupted()) return std::nullopt;
  child->Stop();  // reaps, and kills what the target left behind in its group
  if (!exit) exit = child->exit_status();
  FillFromChild(rec, *child, *state, sampler, exit, options);
  if (exit) rec.latency_ms = MsBetween(signal_at, exit->at);

  std::vector<double> timeouts = options.known_timeouts_ms;
  if (variant.known_timeout_ms) timeouts.push_back(*variant.known_timeout_ms);
  {
    std::lock_guard lock(state->mu);
    if (state->timeout_seconds) timeouts.push_back(*state->timeout_seconds * 1e3);
  }
  auto add = [&](const char* name) {
    if (std::find(rec.fingerprints.begin(), rec.fingerprints.end(), name) == rec.fingerprints.end())
      rec.fingerprints.push_back(name);
  };
  if (rec.latency_ms && !rec.watchdog_fired && LatencyAtKnownTimeout(*rec.latency_ms, timeouts))
    add(kFpLatencyAtTimeout);
  if (rec.watchdog_fired && state->lines_after_signal == 0) add(kFpSilentWatchdogKill);
  if (rec.exit_signal == SIGKILL && !rec.watchdog_fired) add(kFpForeignSigkill);
  Classify(rec, options);
  return rec;
}

void Classify(RunRecord& rec, const RunOptions& options) {
  if (rec.outcome == Outcome::kFailedToStart || rec.outcome == Outcome::kNeverReady) return;
  const bool stopped_by_our_signal = rec.exit_signal && *rec.exit_signal == options.signal && !rec.watchdog_fired;
  if (rec.exit_signal && !rec.watchdog_fired && !stopped_by_our_signal) {
    rec.outcome = Outcome::kCrashed;
    rec.detail = fmt::format("died of {} after the stop signal", SignalName(*rec.exit_signal));
  } else if (rec.exit_code && *rec.exit_code != 0) {
    rec.outcome = Outcome::kCrashed;
    rec.detail = fmt::format("exited with status {}", *rec.exit_code);
  } else if (rec.watchdog_fired) {
    rec.outcome = Outcome::kKilledByWatchdog;
    rec.detail = fmt::format("still running {} after {}; the watchdog sent SIGKILL", FormatDuration(options.kill_after),
                             SignalName(options.signal));
  } else if (std::any_of(rec.fingerprints.begin(), rec.fingerprints.end(),
                         [](const std::string& f) { return FingerprintSet::IsTimeoutFingerprint(f); })) {
    rec.outcome = Outcome::kTimeoutFingerprint;
    rec.detail = rec.held_slots.empty()
                     ? fmt::format("a shutdown wait ran out its timeout")
                     : fmt::format("a shutdown wait timed out on: {}", fmt::join(rec.held_slots, ", "));
  } else if (rec.latency_ms && *rec.latency_ms > ToSeconds(options.slow_threshold) * 1e3) {
    rec.outcome = Outcome::kSlow;
    rec.detail = fmt::format("stopped in {}, over the {} threshold",
                             FormatDuration(std::chrono::microseconds(static_cast<int64_t>(*rec.latency_ms * 1e3))),
                             FormatDuration(options.slow_threshold));
  } else {
    rec.outcome = Outcome::kClean;
    rec.detail = stopped_by_our_signal ? fmt::format("stopped by the default action of {}", SignalName(options.signal))
                                       : "exited 0";
  }
}

}  // namespace coder::harness
