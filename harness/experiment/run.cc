#include "harness/experiment/run.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fstream>
#include <limits>
#include <thread>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "common/duration.h"
#include "harness/analysis/hang_verdict.h"
#include "harness/builtin/builtin_log.h"
#include "harness/experiment/agent_dump.h"
#include "harness/experiment/hang_capture.h"
#include "harness/measure/http_probe.h"
#include "harness/measure/notify_socket.h"
#include "harness/measure/readiness.h"
#include "harness/process/event_loop.h"
#include "harness/process/loop_await.h"
#include "harness/process/port_reservation.h"
#include "harness/process/proc_fs.h"
#include "harness/process/subreaper.h"
#include "harness/traffic/traffic_session.h"

namespace coder::harness {
namespace {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

/// The child's exit status once it has exited, or nullopt at `deadline` (or if it stops being watched).
net::awaitable<std::optional<ExitStatus>> WaitForExit(ChildProcess& child, Clock::time_point deadline) {
  co_await WaitOn(
      child, [&child](const OutputLine*) { return child.exit_status().has_value(); }, deadline);
  co_return child.exit_status();
}

/// A private directory for one run (the built-in server's --config-dir, or {dir}), removed afterwards.
class RunDir {
 public:
  /// No directory when `wanted` is false: on a file system mounted with `discard` its removal alone
  /// can cost milliseconds, a run's whole budget for a target that exits at once.
  explicit RunDir(bool wanted, std::optional<unsigned> mode = std::nullopt) {
    if (!wanted) return;
    // As mktemp(1): $TMPDIR when set, else /tmp; a TMPDIR that cannot be used is said, not bypassed.
    const char* tmpdir = std::getenv("TMPDIR");
    const std::filesystem::path base = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
    std::string tmpl = (base / "coder-diag-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) {
      path_ = tmpl;  // mkdtemp creates it 0700
      if (mode && ::chmod(tmpl.c_str(), static_cast<mode_t>(*mode)) != 0)
        error_ = fmt::format("cannot set the mode of {}: {}", tmpl, std::strerror(errno));
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

std::string Substitute(std::string text, const std::string& key, const std::string& value) {
  for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
    text.replace(at, key.size(), value);
  return text;
}

/// What the output callback gathers while the run goes on; shared with the reader thread.
struct LineState {
  LineState(const FingerprintSet& f, const RunOptions& options) : fingerprints(f) {
    if (options.ready_log_regex.empty()) return;
    if (!options.ready_log) compiled_ready.emplace(options.ready_log_regex);
    ready = options.ready_log ? options.ready_log.get() : &*compiled_ready;
  }
  const FingerprintSet& fingerprints;
  std::optional<RE2> compiled_ready;
  const RE2* ready = nullptr;  // the ready line's regex; null when readiness does not use the log
  std::atomic<Clock::rep> ready_line_at_{std::numeric_limits<Clock::rep>::max()};

  bool IsReadyLine(const std::string& text) const { return ready != nullptr && RE2::PartialMatch(text, *ready); }
  /// Records `at` as the ready line's time unless one was recorded; thread-safe.
  void MarkReady(Clock::time_point at) {
    auto unset = std::numeric_limits<Clock::rep>::max();
    ready_line_at_.compare_exchange_strong(unset, at.time_since_epoch().count());
  }
  /// When the first line matching the ready regex was read.
  std::optional<Clock::time_point> ready_line_at() const {
    const auto at = ready_line_at_.load();
    if (at == std::numeric_limits<Clock::rep>::max()) return std::nullopt;
    return Clock::time_point(Clock::duration(at));
  }
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
  std::string ready_line;  // the first line that matched: the built-in server's names its URL

  void OnLine(const OutputLine& line) {
    ++lines;
    if (ready_line_at_.load() == std::numeric_limits<Clock::rep>::max() && IsReadyLine(line.text)) {
      MarkReady(line.at);
      std::lock_guard lock(mu);
      ready_line = line.text;
    }
    const bool after_signal = line.at.time_since_epoch().count() >= signal_at.load();
    if (after_signal) ++lines_after_signal;
    std::lock_guard lock(mu);
    fingerprints.Scan(line.text, after_signal ? StopPhase::kAfterSignal : StopPhase::kBeforeSignal, matched);
    // Bounded whatever the target prints: a real plan has a handful of steps, a flood of step lines
    // would otherwise grow the harness (and the run's record) without limit.
    if (steps.size() < kMaxSteps)
      if (auto step = builtin::ParseStepLine(line.text)) steps.push_back(std::move(*step));
    if (auto seconds = fingerprints.TimeoutSeconds(line.text)) {
      timeout_seconds = seconds;
      held_slots = builtin::ParseHeldSlots(line.text);
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

/// What each live process of the hung tree waits in: its runtime's dump (--dump), then every thread's
/// native stack of those no dump answered for, into rec.stacks (the dumps first); the snapshot's
/// verdict then leads with what the dumps said. True when a dump ended a process of the tree.
net::awaitable<bool> TakeStacks(RunRecord& rec, ChildProcess& child, const RunOptions& options, ActiveChildren& active,
                                const std::filesystem::path& agent_dir) {
  RuntimeDumps dumps = co_await TakeRuntimeDumps(child, LiveTreeLeaderFirst(child.pid()), options.dump, agent_dir,
                                                 active, options.dump_limits);
  rec.stacks = std::move(dumps.dumps);
  if (options.dump.native_stacks()) {
    std::vector<pid_t> pids = LiveTreeLeaderFirst(child.pid());
    std::erase_if(pids, [&](pid_t p) {
      return std::find(dumps.answered.begin(), dumps.answered.end(), p) != dumps.answered.end();
    });
    if (!pids.empty()) {
      std::vector<ProcessStacks> native = co_await OffLoop(
          [&] { return CaptureStacks(options.stack_tool, pids, child.started_at(), options.stack_limits, active); });
      for (ProcessStacks& s : native) rec.stacks.push_back(std::move(s));
    }
  }
  if (rec.hang) rec.hang->verdict = HangVerdict(*rec.hang, rec.stacks);
  co_return dumps.ended_a_process;
}

/// When the run ends, kills the processes it left outside its group (daemons re-parented to this
/// subreaper) at once, instead of letting them pile up while other runs go on: SweepMarkedOrphans, off
/// the loop when there are any; the destructor is the safety net of a run that did not get there (it
/// may wait, wherever it runs). Move-only.
struct MarkedOrphanSweep {
  std::string marker;  // empty: nothing to sweep
  MarkedOrphanSweep() = default;
  MarkedOrphanSweep(MarkedOrphanSweep&& other) noexcept : marker(std::exchange(other.marker, {})) {}
  MarkedOrphanSweep& operator=(MarkedOrphanSweep&&) = delete;
  ~MarkedOrphanSweep() {
    if (!marker.empty() && IsChildSubreaper()) KillMarkedOrphans(marker);
  }
};

/// Everything a run holds besides its child: the private directory, the reserved port, the notify
/// socket, and the launch spec with {port} and {dir} substituted. Destroyed after the child, so the
/// port and directory outlive every process of the run.
struct RunSetup {
  MarkedOrphanSweep sweep;  // first, so it runs last: after every other member and the child are gone
  std::unique_ptr<RunDir> dir;
  std::unique_ptr<RunDir> agent_dir;  // where armed Python and Node processes write their dumps (--dump)
  // A reference, never a temporary: g++ 12 destroys a temporary argument of a co_awaited call twice.
  const std::filesystem::path& agent_path() const {
    static const std::filesystem::path kNone;
    return agent_dir ? agent_dir->path() : kNone;
  }
  std::optional<PortReservation> port;
  std::unique_ptr<NotifySocket> notify;
  LaunchSpec spec;
  std::string ready_url;
  std::string ready_tcp;
  std::string client_url;                                           // --client-url, substituted
  std::vector<std::pair<std::string, std::string>> client_headers;  // --client-header, substituted
  std::optional<uint16_t> listen_port;                              // the {port} the target's arguments name
  std::string error;                                                // why the run cannot start
};

bool Mentions(const std::string& text, const char* key) { return text.find(key) != std::string::npos; }

/// Writes each --template, its text substituted, into the run's directory; why one could not be, or "".
template <class Substitute>
std::string WriteTemplates(const RunOptions& options, const std::filesystem::path& dir, const Substitute& substitute) {
  for (const auto& t : options.templates) {
    const auto dest = dir / t.dest;
    std::error_code ec;
    std::filesystem::create_directories(dest.parent_path(), ec);
    std::ofstream out(dest, std::ios::binary | std::ios::trunc);
    out << substitute(t.text);
    out.close();
    if (!out) return fmt::format("--template {}: cannot write {}", t.source, dest.string());
  }
  return {};
}

/// The launch's part of --dump (only with --stack-after, when dumps are taken): GOTRACEBACK=all for Go,
/// whose SIGQUIT then prints every goroutine (a value the user chose stays), and the Python and Node
/// agents in a private directory of their own (ArmDumpAgents). Why they could not be armed, or "".
std::string ArmRuntimeDumps(const RunOptions& options, RunSetup& setup) {
  if (!options.stack_after || options.dump.mode == DumpChoice::Mode::kNative ||
      options.dump.mode == DumpChoice::Mode::kNone)
    return "";
  // What the target would see without the harness: its --env (the last one wins), else ours.
  auto existing = [&](std::string_view name) -> std::optional<std::string> {
    for (auto it = options.env.rbegin(); it != options.env.rend(); ++it)
      if (it->first == name) return it->second;
    if (const char* v = std::getenv(std::string(name).c_str())) return std::string(v);
    return std::nullopt;
  };
  if (options.dump.Arms(Runtime::kGo) && !existing("GOTRACEBACK")) setup.spec.env.emplace_back("GOTRACEBACK", "all");
  const bool python = options.dump.Arms(Runtime::kPython);
  const bool node = options.dump.Arms(Runtime::kNode);
  if (!python && !node) return "";
  setup.agent_dir = std::make_unique<RunDir>(true);
  if (!setup.agent_dir->error().empty()) return setup.agent_dir->error();
  auto env = ArmDumpAgents(setup.agent_dir->path(), python, node, existing);
  if (!env) return fmt::format("--dump: cannot arm the Python agent: {}", env.error().message);
  for (auto& entry : *env) setup.spec.env.push_back(std::move(entry));
  return "";
}

RunSetup PrepareLaunch(const VariantSpec& variant, const RunOptions& options) {
  RunSetup setup;
  auto any_uses = [&](const char* key) {
    bool used = std::any_of(variant.argv.begin(), variant.argv.end(), [&](const auto& a) { return Mentions(a, key); });
    for (const auto& [name, value] : options.env) used = used || Mentions(value, key);
    for (const auto& t : options.templates) used = used || Mentions(t.text, key);
    return used;
  };
  const bool argv_uses_port =
      std::any_of(variant.argv.begin(), variant.argv.end(), [](const auto& a) { return Mentions(a, "{port}"); });
  setup.dir = std::make_unique<RunDir>(
      variant.builtin_server || any_uses("{dir}") || !options.templates.empty() || options.ready_notify,
      options.dir_mode);
  if (!setup.dir->error().empty()) {
    setup.error = setup.dir->error();
    return setup;
  }
  std::string port;
  if (any_uses("{port}") || Mentions(options.ready_url, "{port}") || Mentions(options.ready_tcp, "{port}") ||
      Mentions(options.traffic.url, "{port}")) {
    auto reserved = PortReservation::Reserve();
    if (!reserved) {
      setup.error = reserved.error().message;
      return setup;
    }
    port = std::to_string(reserved->port());
    if (argv_uses_port) setup.listen_port = reserved->port();
    setup.port = std::move(*reserved);
  }
  const std::string dir = setup.dir->path().string();
  auto substitute = [&](const std::string& text) { return Substitute(Substitute(text, "{port}", port), "{dir}", dir); };
  for (const auto& arg : variant.argv) setup.spec.argv.push_back(substitute(arg));
  if (variant.builtin_server)
    for (std::string& arg : builtin::RunArguments(setup.dir->path())) setup.spec.argv.push_back(std::move(arg));
  for (const auto& [name, value] : options.env) setup.spec.env.emplace_back(name, substitute(value));
  if (setup.error = WriteTemplates(options, setup.dir->path(), substitute); !setup.error.empty()) return setup;
  if (options.ready_notify) {
    auto socket = NotifySocket::Open(setup.dir->path());
    if (!socket) {
      setup.error = socket.error().message;
      return setup;
    }
    setup.notify = std::move(*socket);
    setup.spec.env.emplace_back("NOTIFY_SOCKET", setup.notify->address());
  }
  if (!options.owner_marker.empty()) {
    static std::atomic<uint64_t> next_run{0};
    // The closing "." keeps run 1's marker from being a prefix of run 10's.
    setup.sweep.marker = fmt::format("{}{}.", options.owner_marker, next_run++);
    setup.spec.env.emplace_back(kOwnerVariable, setup.sweep.marker);
  }
  setup.spec.log_capacity_bytes = options.log_capacity_bytes;
  setup.spec.allow_ptrace_by_harness = options.stack_after.has_value();
  if (setup.error = ArmRuntimeDumps(options, setup); !setup.error.empty()) return setup;
  // The stop signal was the harness's to send; what Stop() meets afterwards is leftovers to kill.
  setup.spec.stop_plan = {{StopAction::kKill, std::chrono::seconds(5)}};
  setup.ready_url = substitute(options.ready_url);
  setup.ready_tcp = substitute(options.ready_tcp);
  if (options.traffic.any()) {
    // The default: the origin of --ready-url, else {port} on loopback; the built-in server's own
    // announcement is read at ready (TrafficTargetOf).
    setup.client_url = substitute(options.traffic.url);
    if (setup.client_url.empty()) setup.client_url = OriginOf(setup.ready_url);
    if (setup.client_url.empty() && !port.empty()) setup.client_url = "http://127.0.0.1:" + port;
    for (const auto& [name, value] : options.traffic.headers)
      setup.client_headers.emplace_back(name, substitute(value));
  }
  return setup;
}

/// Waits until every readiness condition of `options` holds. Returns false at the deadline, on an
/// interrupt, or once the target exited or can no longer meet them; `*waited` then says what each
/// condition waited for and what it last saw. The log line is watched by `state`; the probes poll
/// /proc and the network, from every 250 µs at first to every 10 ms, and at once whenever the target
/// prints a line (readiness often comes with one). The probes that can block (an HTTP GET, a TCP
/// connect) run off the loop.
net::awaitable<bool> WaitReady(ChildProcess& child, const RunOptions& options, RunSetup& setup, LineState& state,
                               ActiveChildren& active, Clock::time_point* ready_at, std::vector<std::string>* waited) {
  const auto deadline = Clock::now() + options.ready_timeout;
  const bool want_log = !options.ready_log_regex.empty();
  ReadinessProbes probes(child.pid(), options.ready_listen, setup.ready_url, setup.ready_tcp, setup.listen_port);
  std::optional<Clock::time_point> probes_at;
  auto pause = std::chrono::microseconds(250);
  auto describe = [&] {
    waited->clear();
    if (want_log) {
      waited->push_back(fmt::format("a line matching '{}' ({})", options.ready_log_regex,
                                    state.ready_line_at()  ? "seen"
                                    : child.output_ended() ? "not printed before the target closed its output"
                                                           : "not seen"));
    }
    for (auto& d : probes.Describe()) waited->push_back(std::move(d));
    if (setup.notify) {
      waited->push_back(fmt::format(
          "READY=1 on NOTIFY_SOCKET ({})",
          setup.notify->ready_at() ? "received"
          : setup.notify->datagrams() == 0
              ? "no notification received"
              : fmt::format("{} notifications, last STATUS: '{}'", setup.notify->datagrams(), setup.notify->status())));
    }
  };
  for (;;) {
    if (active.interrupted()) co_return false;
    // Before the probes look: a line printed while they do wakes the wait below.
    const uint64_t lines = child.lines_read();
    if (setup.notify) setup.notify->Drain();
    // An exited target's sockets are closed: probing it again would only delay the record.
    if (probes.any() && !probes_at && !child.exit_status()) {
      const bool held =
          probes.may_block() ? co_await OffLoop([&] { return probes.PollOnce(deadline); }) : probes.PollOnce(deadline);
      if (held) probes_at = Clock::now();
    }
    const auto log_at = want_log ? state.ready_line_at() : std::optional<Clock::time_point>(Clock::time_point::min());
    const auto notify_at =
        setup.notify ? setup.notify->ready_at() : std::optional<Clock::time_point>(Clock::time_point::min());
    const bool probes_held = !probes.any() || probes_at;
    if (log_at && notify_at && probes_held) {
      *ready_at = std::max({*log_at, *notify_at, probes_at.value_or(Clock::time_point::min())});
      co_return true;
    }
    if (child.exit_status() || Clock::now() >= deadline || (want_log && !log_at && child.output_ended())) {
      describe();
      co_return false;
    }
    if (want_log && !log_at && probes_held && notify_at) {
      // Only the line is missing: wake on it (the line callback has recorded it by then), on the end of
      // the output or the exit, rather than on a timer. In slices, for the interrupt and the notify
      // socket.
      co_await WaitOn(
          child,
          [&](const OutputLine*) { return state.ready_line_at() || child.output_ended() || child.exit_status(); },
          std::min<Clock::time_point>(deadline, Clock::now() + std::chrono::milliseconds(20)));
      continue;
    }
    co_await WaitOn(
        child, [&](const OutputLine*) { return child.lines_read() > lines || child.exit_status(); },
        std::min<Clock::time_point>(Clock::now() + pause, deadline));
    pause = std::min<std::chrono::microseconds>(pause * 3 / 2, std::chrono::milliseconds(10));
  }
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

namespace {

/// Records a run that did not become ready: never-ready (still running at the deadline, or unable to
/// meet the conditions any more) or failed-to-start (it exited first). nullopt after an interrupt.
net::awaitable<std::optional<RunRecord>> FinishNotReady(RunRecord rec, ChildProcess& child, LineState& state,
                                                        RssSampler& sampler, const RunOptions& options,
                                                        ActiveChildren& active, const std::vector<std::string>& waited,
                                                        const std::filesystem::path& agent_dir) {
  if (active.interrupted()) co_return std::nullopt;
  // Output ends a moment before the exit is seen; give the exit that moment.
  auto exit = co_await WaitForExit(child, Clock::now() + std::chrono::milliseconds(200));
  // An interrupt in that moment killed it: that exit is ours, not a measurement.
  if (active.interrupted()) co_return std::nullopt;
  const std::string what = waited.empty() ? std::string() : fmt::format("; waited for {}", fmt::join(waited, "; "));
  if (!exit) {
    const bool output_closed = !options.ready_log_regex.empty() && child.output_ended() && !state.ready_line_at();
    rec.hang = co_await SnapshotHang(child, "ready-timeout", nullptr);
    if (options.stack_after) (void)co_await TakeStacks(rec, child, options, active, agent_dir);
    co_await StopChild(child);
    exit = child.exit_status();
    rec.outcome = Outcome::kNeverReady;
    rec.detail = output_closed ? "closed its stdout and stderr without printing the ready line" + what
                               : fmt::format("not ready within {}{}", FormatDuration(options.ready_timeout), what);
  } else {
    rec.outcome = Outcome::kFailedToStart;
    rec.detail = fmt::format("exited before it was ready: {}{}", exit->Describe(), what);
  }
  co_await StopChild(child);
  FillFromChild(rec, child, state, sampler, exit, options);
  co_return rec;
}

/// How the stop went, as ExecuteRun measures it.
struct StopResult {
  std::optional<ExitStatus> exit;          // the leader's
  std::optional<Clock::time_point> ended;  // when the stop was over: the leader's exit, or with
                                           // SignalTarget::kGroup the moment the whole tree was gone
};

/// Waits until `pred` holds or `deadline`, draining the notify socket meanwhile (its queue is short:
/// a target blocked sending to it would hang). /proc and datagrams notify nobody, so this polls.
template <class Pred>
net::awaitable<bool> PollUntil(Pred pred, Clock::time_point deadline, NotifySocket* notify) {
  auto pause = std::chrono::microseconds(500);
  for (;;) {
    if (notify) notify->Drain();
    if (pred()) co_return true;
    if (Clock::now() >= deadline) co_return false;
    co_await SleepUntil(std::min<Clock::time_point>(Clock::now() + pause, deadline));
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(10));
  }
}

/// The processes of the run still alive: the leader's tree and group, and the daemons that left the
/// group but carry the run's marker (re-parented here once their parent died). Those already past the
/// point of no return in their exit are gone.
std::vector<pid_t> LiveOfRun(ChildProcess& child, const std::string& marker) {
  // Once the leader's exit is seen its children are this subreaper's (the kernel re-parents them before
  // it wakes the pidfd), and so would be every live member of its tree or group and every marked orphan:
  // with no child of ours that no ChildProcess owns, nothing of the run is left. One look at our own
  // children instead of the tree, the group and the markers, on the path of every stop.
  if (child.exit_status() && IsChildSubreaper() && !HasUnownedChildren()) return {};
  std::vector<pid_t> live = LiveDescendants(child.pid());
  if (!marker.empty()) {
    for (pid_t p : LiveMarkedOrphans(marker))
      if (std::find(live.begin(), live.end(), p) == live.end()) live.push_back(p);
  }
  live.erase(std::remove_if(live.begin(), live.end(),
                            [](pid_t p) {
                              auto st = ReadProcStat(p);
                              return !st || st->exiting();
                            }),
             live.end());
  return live;
}

/// Waits for the leader's exit up to the watchdog, taking stacks on the way (--stack-after); with
/// SignalTarget::kGroup, then for the rest of the tree. SIGKILLs the group when the watchdog fires.
net::awaitable<StopResult> AwaitStop(RunRecord& rec, ChildProcess& child, const RunOptions& options,
                                     ActiveChildren& active, NotifySocket* notify, Clock::time_point signal_at,
                                     const std::string& marker, TrafficSession* traffic,
                                     const std::filesystem::path& agent_dir) {
  StopResult out;
  const auto watchdog_at = signal_at + options.kill_after;
  auto wait_exit = [&](Clock::time_point until) -> net::awaitable<std::optional<ExitStatus>> {
    if (!notify) co_return co_await WaitForExit(child, until);
    co_await PollUntil([&] { return child.exit_status().has_value(); }, until, notify);
    co_return child.exit_status();
  };
  const bool whole_group = options.signal_to == RunOptions::SignalTarget::kGroup;
  if (options.stack_after && *options.stack_after < options.kill_after) {
    const auto stack_at = signal_at + *options.stack_after;
    out.exit = co_await wait_exit(stack_at);
    // With the group signalled the stop is the whole tree's: a wrapper that died of the signal at once
    // leaves the server it started still hung at --stack-after.
    bool hung = !out.exit;
    if (!hung && whole_group)
      hung = !co_await PollUntil([&] { return LiveOfRun(child, marker).empty(); }, stack_at, notify);
    // The debugger pauses the target while attached; by now it is past its budget anyway. The
    // snapshot first: it pauses nothing, and the debugger's attach would show every thread stopped.
    if (hung && !active.interrupted()) {
      rec.hang = co_await SnapshotHang(child, "stack-after", traffic);
      // Go exits after its dump. The run was hung at --stack-after; what is left of it is killed now,
      // as the watchdog would, and the exit the dump caused is not the target's own.
      rec.ended_by_dump = co_await TakeStacks(rec, child, options, active, agent_dir) && !active.interrupted();
    }
  }
  if (!out.exit && !rec.ended_by_dump) out.exit = co_await wait_exit(watchdog_at);
  bool tree_gone = !rec.ended_by_dump;
  if (rec.ended_by_dump) {
    // Nothing to wait for: the kill below ends the run.
  } else if (out.exit && whole_group) {
    // systemd's control-group stop is over when the last process is, not the first.
    tree_gone = co_await PollUntil([&] { return LiveOfRun(child, marker).empty(); }, watchdog_at, notify);
    if (tree_gone) out.ended = Clock::now();
  } else if (out.exit) {
    out.ended = out.exit->at;
  }
  if ((!out.exit || !tree_gone) && !active.interrupted()) {
    // Where it hung, while it still holds what it holds: the kill closes every socket.
    if (!rec.hang) rec.hang = co_await SnapshotHang(child, "watchdog", traffic);
    rec.watchdog_fired = true;
    if (traffic) traffic->MarkWatchdog();  // before the kill closes what the target held open
    (void)child.SignalGroup(SIGKILL);
    if (!out.exit) out.exit = co_await WaitForExit(child, Clock::now() + std::chrono::seconds(10));
    if (rec.ended_by_dump && out.exit) out.ended = Clock::now();
  }
  co_return out;
}

/// Processes of the run that outlived the leader by more than the grace, which the harness is about
/// to kill: a wrapper (`sh -c`, `make run`, an npm script) died of the signal, the server never had it,
/// or a daemon the target started outlives it.
net::awaitable<int> CountLeftBehind(ChildProcess& child, const RunOptions& options, NotifySocket* notify,
                                    const std::string& marker) {
  size_t left = 0;
  co_await PollUntil([&] { return (left = LiveOfRun(child, marker).size()) == 0; },
                     Clock::now() + options.leftover_grace, notify);
  co_return static_cast<int>(left);
}

void AddBuiltinFingerprints(RunRecord& rec, const VariantSpec& variant, const RunOptions& options, LineState& state) {
  std::vector<double> timeouts = options.known_timeouts_ms;
  if (variant.known_timeout_ms) timeouts.push_back(*variant.known_timeout_ms);
  {
    std::lock_guard lock(state.mu);
    if (state.timeout_seconds) timeouts.push_back(*state.timeout_seconds * 1e3);
  }
  auto add = [&](const char* name) {
    if (std::find(rec.fingerprints.begin(), rec.fingerprints.end(), name) == rec.fingerprints.end())
      rec.fingerprints.push_back(name);
  };
  if (rec.latency_ms && !rec.watchdog_fired && LatencyAtKnownTimeout(*rec.latency_ms, timeouts))
    add(kFpLatencyAtTimeout);
  if (rec.watchdog_fired && state.lines_after_signal == 0) add(kFpSilentWatchdogKill);
  if (rec.exit_signal == SIGKILL && !rec.watchdog_fired) add(kFpForeignSigkill);
}

}  // namespace

namespace {

/// What one run's steps share: its arguments and what the launch made. Lives on ExecuteRun's stack.
struct LiveRun {
  const VariantSpec& variant;
  const RunOptions& options;
  RssSampler& sampler;
  ActiveChildren& active;
  RunSetup& setup;
  LineState& state;
  ChildProcess& child;
  PhaseReport& phases;
  TrafficSession* traffic = nullptr;  // with --client or --load, from ready on
};

/// A crashed record when the target is ending by itself before the stop signal (already exited, or
/// exiting right now): a signal then would be counted as a stop, and nothing was stopped.
net::awaitable<std::optional<RunRecord>> EndedBeforeTheSignal(RunRecord& rec, LiveRun& run) {
  ChildProcess& child = run.child;
  std::optional<ExitStatus> early = child.exit_status();
  if (!early) {
    // Exiting right now, its exit not yet seen: a signal to it would be counted as a stop that took
    // microseconds.
    if (auto st = ReadProcStat(child.pid()); st && !st->exiting()) co_return std::nullopt;
    early = co_await WaitForExit(child, Clock::now() + std::chrono::seconds(5));
  }
  co_await StopChild(child);
  FillFromChild(rec, child, run.state, run.sampler, early, run.options);
  rec.outcome = Outcome::kCrashed;
  rec.detail = fmt::format("exited before the stop signal ({}): its stop was not tested",
                           early ? early->Describe() : std::string("its exit status was lost"));
  co_return std::move(rec);
}

/// Sends the stop signal, waits for the stop (watchdog, stacks, leftovers) and measures and classifies
/// it. nullopt after an interrupt.
net::awaitable<std::optional<RunRecord>> SignalAndMeasure(RunRecord rec, LiveRun& run) {
  const RunOptions& options = run.options;
  ChildProcess& child = run.child;
  NotifySocket* notify = run.setup.notify.get();
  const auto signal_at = Clock::now();
  run.state.signal_at = signal_at.time_since_epoch().count();
  if (run.traffic) run.traffic->MarkSignal(signal_at);
  // If it just exited, the wait below tells how, and the exit's time says it came first.
  (void)(options.signal_to == RunOptions::SignalTarget::kGroup ? child.SignalGroup(options.signal)
                                                               : child.Signal(options.signal));
  run.phases.Enter(RunPhase::kStopping, signal_at);
  rec.signal_ms = MsBetween(child.started_at(), signal_at);
  StopResult stop = co_await AwaitStop(rec, child, options, run.active, notify, signal_at, run.setup.sweep.marker,
                                       run.traffic, run.setup.agent_path());
  if (run.active.interrupted()) co_return std::nullopt;
  if (run.traffic) run.traffic->MarkExit(stop.exit ? stop.exit->at : Clock::now());
  if (stop.exit && !rec.watchdog_fired && options.signal_to == RunOptions::SignalTarget::kLeader)
    rec.left_processes = co_await CountLeftBehind(child, options, notify, run.setup.sweep.marker);
  // An interrupt meanwhile killed what was left: that is ours, not a measurement.
  if (run.active.interrupted()) co_return std::nullopt;
  // The zombie keeps its pending signals until it is reaped: an exit code with our signal still pending
  // means no handler ever ran, so the target was on its way out before the signal reached it.
  // A target that said STOPPING=1 reacted, whatever is pending (a supervisor may re-raise the signal to
  // its own group while it blocks it).
  const bool said_stopping = notify && (notify->Drain(), notify->stopping_at().has_value());
  const bool signal_unhandled =
      stop.exit && !stop.exit->signaled && !said_stopping && SignalPending(child.pid(), options.signal);
  if (run.traffic) {
    // The exit closed the target's sockets a moment before its pidfd said so: see those closes first.
    co_await run.traffic->Settle(Clock::now() + std::chrono::milliseconds(250));
    rec.traffic = run.traffic->Close();
  }
  co_await StopChild(child);  // reaps, and kills what the target left behind in its group
  if (!stop.exit) stop.exit = child.exit_status();
  FillFromChild(rec, child, run.state, run.sampler, stop.exit, options);
  if (notify) {
    notify->Drain();
    if (auto at = notify->stopping_at(); at && *at >= signal_at) rec.stop_acknowledged_ms = MsBetween(signal_at, *at);
  }
  if (stop.exit && (stop.exit->at < signal_at || signal_unhandled)) {
    rec.outcome = Outcome::kCrashed;
    rec.detail = fmt::format("exited before the stop signal ({}): its stop was not tested", stop.exit->Describe());
    co_return rec;
  }
  if (stop.ended) rec.latency_ms = MsBetween(signal_at, *stop.ended);
  else if (stop.exit) rec.latency_ms = MsBetween(signal_at, stop.exit->at);
  AddBuiltinFingerprints(rec, run.variant, options, run.state);
  Classify(rec, options);
  co_return rec;
}

}  // namespace

namespace {

/// Where the run's traffic goes: --client-url (or its default, PrepareLaunch), else the URL the built-in
/// server's ready line announced; with the built-in server's session token besides --client-header.
Result<TrafficSession::Target> TrafficTargetOf(LiveRun& run) {
  std::string url = run.setup.client_url;
  if (url.empty() && run.variant.builtin_server) {
    std::lock_guard lock(run.state.mu);
    url = builtin::UrlFromReadyLine(run.state.ready_line).value_or("");
  }
  if (url.empty())
    return Error{
        "--client/--load: no URL to send the traffic to (give --client-url, a --ready-url, or {port} in the "
        "command)"};
  auto parsed = ParseClientUrl(url);
  if (!parsed) return parsed.error();
  TrafficSession::Target target{*parsed, url, run.setup.client_headers};
  if (run.variant.builtin_server && run.setup.dir)
    for (auto& header : builtin::ClientHeaders(run.setup.dir->path())) target.headers.push_back(std::move(header));
  return target;
}

/// Opens the run's --client connections and starts its --load, and waits (bounded) until the clients
/// are established. Whatever went wrong is in the record's traffic: a run whose clients were not all
/// established is not clean (Classify), and is still stopped and measured.
net::awaitable<std::unique_ptr<TrafficSession>> StartTraffic(RunRecord& rec, LiveRun& run) {
  auto target = TrafficTargetOf(run);
  if (!target) {
    rec.traffic = TrafficRecord{.established = false, .establish_detail = target.error().message};
    co_return nullptr;
  }
  auto traffic =
      std::make_unique<TrafficSession>(co_await net::this_coro::executor, run.options.traffic, std::move(*target));
  if (auto started = co_await traffic->Start(); !started) {
    rec.traffic = traffic->Close();
    rec.traffic->established = false;
    rec.traffic->establish_detail = started.error().message;
    co_return nullptr;
  }
  (void)co_await traffic->WaitEstablished(Clock::now() + run.options.traffic.establish_timeout);
  co_return traffic;
}

/// What a launched run does until its record: readiness, the hold, the signal and the stop. nullopt
/// after an interrupt. The child may still be running when this returns; the caller stops it.
net::awaitable<std::optional<RunRecord>> WatchRun(RunRecord rec, LiveRun& run, std::optional<Clock::time_point> epoch) {
  ChildProcess& child = run.child;
  const RunOptions& options = run.options;
  const auto t0 = child.started_at();
  if (epoch) rec.launch_ms = MsBetween(*epoch, t0);
  run.phases.Enter(RunPhase::kWaitingForReady, t0);

  Clock::time_point ready_at;
  std::vector<std::string> waited;
  if (!co_await WaitReady(child, options, run.setup, run.state, run.active, &ready_at, &waited))
    co_return co_await FinishNotReady(std::move(rec), child, run.state, run.sampler, options, run.active, waited,
                                      run.setup.agent_path());
  rec.ready_ms = MsBetween(t0, ready_at);
  run.sampler.SampleNow(child.pid());
  std::unique_ptr<TrafficSession> traffic;
  if (options.traffic.any()) {
    traffic = co_await StartTraffic(rec, run);
    run.traffic = traffic.get();
  }
  if (options.hold.count() > 0) {
    run.phases.Enter(RunPhase::kHolding, ready_at);
    (void)co_await WaitForExit(child, Clock::now() + options.hold);
  }
  if (run.active.interrupted()) co_return std::nullopt;
  // Nothing was stopped when the target ends by itself: it never tested its shutdown.
  if (child.exit_status()) {
    auto ended = co_await EndedBeforeTheSignal(rec, run);
    if (ended && traffic) ended->traffic = traffic->Close();
    co_return ended;
  }
  // The resident set the tail starts from; without a hold, the sample at ready a moment ago is it.
  if (options.hold.count() > 0) run.sampler.SampleNow(child.pid());
  std::optional<RunRecord> out = co_await EndedBeforeTheSignal(rec, run);
  if (!out) out = co_await SignalAndMeasure(std::move(rec), run);
  if (out && traffic && !out->traffic) out->traffic = traffic->Close();
  co_return out;
}

/// Kills what the run left outside its group (daemons re-parented to this subreaper) now, instead of
/// letting them pile up while other runs go on; the common case, none, is seen without waiting.
net::awaitable<void> SweepMarkedOrphans(MarkedOrphanSweep& sweep) {
  if (sweep.marker.empty() || !IsChildSubreaper()) co_return;
  const std::string marker = std::exchange(sweep.marker, {});
  if (LiveMarkedOrphans(marker).empty()) co_return;
  co_await OffLoop([&marker] { KillMarkedOrphans(marker); });
}

}  // namespace

net::awaitable<std::optional<RunRecord>> ExecuteRunOnLoop(const VariantSpec& variant, int index,
                                                          const RunOptions& options, const FingerprintSet& fingerprints,
                                                          RssSampler& sampler, ActiveChildren& active,
                                                          std::optional<Clock::time_point> epoch) {
  RunRecord rec;
  rec.variant = variant.name;
  rec.index = index;
  if (active.interrupted()) co_return std::nullopt;
  PhaseReport phases(options.observer.get(), variant.name, index);

  RunSetup setup = PrepareLaunch(variant, options);
  if (!setup.error.empty()) {
    rec.outcome = Outcome::kFailedToStart;
    rec.detail = setup.error;
    co_return rec;
  }
  auto state = std::make_shared<LineState>(fingerprints, options);
  auto started = ChildProcess::Start(
      std::move(setup.spec), [state, observer = options.observer, name = variant.name, index](const OutputLine& line) {
        state->OnLine(line);
        if (observer) observer->OnOutput(name, index, line);
      });
  if (!started) {
    rec.outcome = Outcome::kFailedToStart;
    rec.detail = started.error().message;
    co_return rec;
  }
  std::unique_ptr<ChildProcess> child = std::move(*started);
  struct Registration {
    ActiveChildren& active;
    ChildProcess* child;
    ~Registration() { active.Remove(child); }
  } registration{active, child.get()};
  std::optional<RunRecord> out;
  if (active.Add(child.get())) {
    (void)sampler.Add(child->pid());  // a target that already exited has nothing to sample
    LiveRun run{variant, options, sampler, active, setup, *state, *child, phases};
    out = co_await WatchRun(std::move(rec), run, epoch);
  }
  // On every path, here: the destructor's Stop() could wait on the loop for an exit only the loop sees.
  co_await StopChild(*child);
  co_await SweepMarkedOrphans(setup.sweep);
  co_return out;
}

std::optional<RunRecord> ExecuteRun(const VariantSpec& variant, int index, const RunOptions& options,
                                    const FingerprintSet& fingerprints, RssSampler& sampler, ActiveChildren& active,
                                    std::optional<Clock::time_point> epoch) {
  return net::co_spawn(EventLoop::Shared().context(),
                       ExecuteRunOnLoop(variant, index, options, fingerprints, sampler, active, epoch), net::use_future)
      .get();
}

bool IsCleanExitCode(int code, const RunOptions& options) {
  if (options.clean_exit_codes.empty()) return code == 0 || code == 128 + options.signal;
  return std::find(options.clean_exit_codes.begin(), options.clean_exit_codes.end(), code) !=
         options.clean_exit_codes.end();
}

void Classify(RunRecord& rec, const RunOptions& options) {
  if (rec.outcome == Outcome::kFailedToStart || rec.outcome == Outcome::kNeverReady) return;
  if (rec.ended_by_dump) {
    rec.outcome = Outcome::kKilledByWatchdog;
    rec.detail = fmt::format(
        "still running {} after {}; its runtime's dump ended it there (Go exits after printing its goroutines), "
        "before the {} watchdog",
        options.stack_after ? FormatDuration(*options.stack_after) : std::string("--stack-after"),
        SignalName(options.signal), FormatDuration(options.kill_after));
    return;
  }
  const bool stopped_by_our_signal = rec.exit_signal && *rec.exit_signal == options.signal && !rec.watchdog_fired;
  if (rec.exit_signal && !rec.watchdog_fired && !stopped_by_our_signal) {
    rec.outcome = Outcome::kCrashed;
    rec.detail = fmt::format("died of {} after the stop signal", SignalName(*rec.exit_signal));
  } else if (rec.exit_code && !IsCleanExitCode(*rec.exit_code, options)) {
    rec.outcome = Outcome::kCrashed;
    rec.detail = fmt::format("exited with status {}", *rec.exit_code);
  } else if (rec.watchdog_fired) {
    rec.outcome = Outcome::kKilledByWatchdog;
    rec.detail = fmt::format("still running {} after {}; the watchdog sent SIGKILL", FormatDuration(options.kill_after),
                             SignalName(options.signal));
  } else if (rec.traffic && !rec.traffic->established) {
    rec.outcome = Outcome::kClientsNotEstablished;
    rec.detail = fmt::format(
        "its clients were not all established before the stop signal, so its stop was not "
        "tested with them: {}",
        rec.traffic->establish_detail);
  } else if (rec.left_processes > 0) {
    rec.outcome = Outcome::kLeftProcesses;
    rec.detail = fmt::format(
        "the leader ended ({}) while {} process{} of its tree still ran; the harness killed {}. The stop signal "
        "went to the leader only: a wrapper (sh -c, make, npm) may have died of it while the server never got it "
        "(exec the server in the wrapper, or --signal-to group)",
        rec.exit, rec.left_processes, rec.left_processes == 1 ? "" : "es", rec.left_processes == 1 ? "it" : "them");
  } else if (std::any_of(rec.fingerprints.begin(), rec.fingerprints.end(),
                         [](const std::string& f) { return FingerprintSet::IsTimeoutFingerprint(f); })) {
    rec.outcome = Outcome::kTimeoutFingerprint;
    std::vector<std::string> timeouts;
    for (const std::string& f : rec.fingerprints)
      if (FingerprintSet::IsTimeoutFingerprint(f)) timeouts.push_back(f);
    rec.detail = rec.held_slots.empty()
                     ? fmt::format("a shutdown wait ran out its timeout ({})", fmt::join(timeouts, ", "))
                     : fmt::format("a shutdown wait timed out on: {}", fmt::join(rec.held_slots, ", "));
  } else if (rec.latency_ms && *rec.latency_ms > ToSeconds(options.slow_threshold) * 1e3) {
    rec.outcome = Outcome::kSlow;
    rec.detail = fmt::format("stopped in {}, over the {} threshold",
                             FormatDuration(std::chrono::microseconds(static_cast<int64_t>(*rec.latency_ms * 1e3))),
                             FormatDuration(options.slow_threshold));
  } else {
    rec.outcome = Outcome::kClean;
    rec.detail = stopped_by_our_signal ? fmt::format("stopped by the default action of {}", SignalName(options.signal))
                 : rec.exit_code && *rec.exit_code != 0 ? fmt::format("exited {} (a clean exit code)", *rec.exit_code)
                                                        : "exited 0";
  }
}

}  // namespace coder::harness
