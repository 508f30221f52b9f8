#pragma once

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <re2/re2.h>
#include <boost/asio/awaitable.hpp>

#include "harness/analysis/fingerprint.h"
#include "harness/analysis/run_record.h"
#include "harness/builtin/builtin_server.h"
#include "harness/experiment/run_observer.h"
#include "harness/experiment/runtime_dump.h"
#include "harness/measure/rss_sampler.h"
#include "harness/measure/stack_capture.h"
#include "harness/process/active_children.h"
#include "harness/process/child_process.h"
#include "harness/traffic/traffic_spec.h"

namespace coder::harness {

/// How every run is driven and judged. Plain value type.
struct RunOptions {
  std::chrono::milliseconds ready_timeout{30'000};
  std::chrono::milliseconds hold{0};             ///< between ready and the stop signal
  int signal = SIGTERM;                          ///< the stop signal
  std::chrono::milliseconds kill_after{30'000};  ///< watchdog: SIGKILL this long after the stop signal
  std::chrono::milliseconds slow_threshold{5'000};
  std::string ready_log_regex = builtin::kReadyLine;  ///< RE2: a line that means ready; empty: not used
  /// ready_log_regex compiled once for every run (a long regex costs milliseconds to compile); when
  /// null, each run compiles it. Shared read-only across threads, which RE2 allows.
  std::shared_ptr<const RE2> ready_log;
  std::string ready_url;  ///< http:// URL answering 2xx once ready; may contain {port}
  std::string ready_tcp;  ///< HOST:PORT accepting connections once ready; may contain {port}
  /// Ready once a process of the target's tree listens on TCP (on {port} when its arguments use it).
  /// ready_url and ready_tcp also require the listener to be the tree's, so another server on the
  /// port never passes for the target. Every readiness condition that is set must hold.
  bool ready_listen = false;
  /// Ready on READY=1 through a notify socket the run provides ($NOTIFY_SOCKET, as systemd does); a
  /// STOPPING=1 after the stop signal is recorded as RunRecord::stop_acknowledged_ms.
  bool ready_notify = false;
  /// Whom the stop signal reaches: the leader only (as docker and Kubernetes send it) or its whole
  /// process group (as systemd's KillMode=control-group). With kGroup the stop lasts until the whole
  /// tree is gone; with kLeader, processes still running when the leader exited are a finding.
  enum class SignalTarget { kLeader, kGroup };
  SignalTarget signal_to = SignalTarget::kLeader;
  /// Exit codes that count as a clean stop; empty means 0 and 128 + signal (a JVM exits 143 after
  /// SIGTERM). Dying of the stop signal itself is clean either way.
  std::vector<int> clean_exit_codes;
  /// How long processes of the tree may outlive the leader before they count as left behind: a moment
  /// for those already on their way out (docker kills the rest at once).
  std::chrono::milliseconds leftover_grace{20};
  /// Added to each target's environment; {port} and {dir} are substituted per run.
  std::vector<std::pair<std::string, std::string>> env;
  /// A file rendered into each run's directory ({dir}) with {port} and {dir} substituted.
  struct FileTemplate {
    std::string source;  ///< where the text came from, for messages
    std::string text;
    std::string dest;  ///< relative to the run's directory, no ".."
  };
  std::vector<FileTemplate> templates;
  /// The experiment's marker prefix (NewExperimentMarker): each run's targets get kOwnerVariable set to
  /// it plus a run id, so what they leave outside their group is killed when the run ends, and by the
  /// Keeper if the harness dies. Empty: no marker.
  std::string owner_marker;
  /// Mode of the run's directory (0700 when unset), for servers whose workers drop privileges.
  std::optional<unsigned> dir_mode;
  /// The common timeouts (Go's drains, nginx and Node header timeouts, Kubernetes' 30 s grace).
  std::vector<double> known_timeouts_ms{1'000, 2'000, 3'000, 5'000, 10'000, 15'000, 30'000, 60'000};
  size_t log_tail_lines = 40;
  size_t log_capacity_bytes = 1 << 20;  ///< per run (--log-bytes): a chatty target cannot grow the harness
  /// --keep-logs: the Runner keeps the whole log (RunRecord::log) of clean runs too; without it only
  /// runs that were not clean keep theirs (ExecuteRun itself always fills it).
  bool keep_logs = false;
  /// Told of every run's phases and output as they happen; null: nobody watches. Shared by all runs.
  std::shared_ptr<RunObserver> observer;
  size_t max_timeline_points = kRssTimelineMaxPoints;
  /// --stack-after: a target still running this long after the stop signal gets every thread's stack
  /// taken with `stack_tool` before the watchdog (kill_after, measured from the signal) kills it; one
  /// that never becomes ready gets them at the ready timeout. nullopt: never.
  std::optional<std::chrono::milliseconds> stack_after;
  StackTool stack_tool;
  StackCaptureLimits stack_limits;
  /// --dump: at --stack-after (and the ready timeout) each process of the hung tree is asked for its
  /// runtime's dump first (Go: its goroutines); native stacks for the rest. With Go, GOTRACEBACK=all is
  /// set at the launch unless the target's environment has one.
  DumpChoice dump;
  DumpLimits dump_limits;
  /// --client and --load: the traffic each run sends its target from ready until its exit.
  TrafficSpec traffic;
};

/// Launches `variant` once, waits until it is ready, holds, sends the stop signal, waits for the exit with
/// a watchdog (SIGKILL after kill_after), and measures everything a RunRecord holds. Every process of the
/// run is gone when it completes. nullopt when the harness was interrupted during the run (such a run is
/// not a measurement). A coroutine on the EventLoop's thread (EventLoop::Shared()): the target's output,
/// its exit and the run's reaction to them are handled there, with no other thread in between; what
/// may block (HTTP and TCP probes, stack captures, a Stop() that waits) runs on threads of its own.
/// Concurrent runs need distinct arguments except `fingerprints`, `sampler` and `active`. `epoch` is the
/// experiment's start, which launch_ms counts from (none: launch_ms stays unset).
boost::asio::awaitable<std::optional<RunRecord>> ExecuteRunOnLoop(
    const VariantSpec& variant, int index, const RunOptions& options, const FingerprintSet& fingerprints,
    RssSampler& sampler, ActiveChildren& active, std::optional<std::chrono::steady_clock::time_point> epoch);

/// ExecuteRunOnLoop, waited for: blocks the calling thread, which must not be the loop's, until the run
/// is over.
std::optional<RunRecord> ExecuteRun(const VariantSpec& variant, int index, const RunOptions& options,
                                    const FingerprintSet& fingerprints, RssSampler& sampler, ActiveChildren& active,
                                    std::optional<std::chrono::steady_clock::time_point> epoch = std::nullopt);

/// Whether exiting with `code` after the stop signal is a clean stop (RunOptions::clean_exit_codes).
bool IsCleanExitCode(int code, const RunOptions& options);

/// Applies the outcome rules to a record whose measurements are filled in: crash before watchdog before
/// timeout fingerprint before slow before clean. Dying of the stop signal itself counts as a clean stop.
void Classify(RunRecord& record, const RunOptions& options);

}  // namespace coder::harness
