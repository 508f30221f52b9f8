#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "harness/analysis/run_record.h"
#include "harness/experiment/run_observer.h"

namespace coder::harness {

/// One run in flight as the status line shows it.
struct InFlightRun {
  std::string variant;
  int index = 0;
  RunPhase phase = RunPhase::kLaunching;
  double for_s = 0;  ///< time in that phase
};

/// What the status line shows at one moment. Plain data.
struct ProgressSnapshot {
  size_t done = 0;
  size_t total = 0;
  std::map<Outcome, size_t> outcomes;
  double elapsed_s = 0;
  std::optional<double> left_s;        ///< estimate; none before a run has finished
  std::vector<InFlightRun> in_flight;  ///< any order
  std::string last;  ///< the last finished run, "python3 #2: clean in 1.20ms"; shown when none is in flight
};

/// The terminal status line, uncut:
/// `[3/20] 2 clean, 1 slow | 1m02s, ~40s left | python3 #3: stopping for 4.2s, python3 #4: starting for 0.3s`.
/// Outcome counts most severe first; elapsed as "12s", "1m02s", "1h02m"; the estimate rounded up
/// ("~1s" at least); the runs in flight longest in their phase first, at most three, then "+N more".
/// Phases read "launching", "starting" (not ready yet), "holding", "stopping", each "for" the time in
/// it ("4.2s" below a minute). With none in flight, `last` is shown as "last python3 #2: clean in 1.20ms".
/// Pure function.
std::string RenderProgressStatus(const ProgressSnapshot& snapshot);

/// Seconds until every planned run has finished, from `mean_run_s`, the mean launch-to-finish time of
/// the finished runs. Closed loop: each run in flight needs what is left of the mean (none once past it)
/// and each run not started the whole mean, shared among `parallel` slots, and never less than the
/// longest single remainder. Open loop (`arrival_interval_s`): the runs not started launch that far apart
/// and the last one then takes the mean. nullopt without a mean. Pure function.
std::optional<double> EstimateSecondsLeft(std::optional<double> mean_run_s, size_t not_started,
                                          const std::vector<double>& in_flight_ages_s, int parallel,
                                          std::optional<double> arrival_interval_s);

struct ProgressOptions {
  int parallel = 1;                          ///< runs in flight at once (closed loop), for the estimate
  std::optional<double> arrival_interval_s;  ///< open loop: launches this far apart
  bool show_output = false;                  ///< OnOutput prints every line (--show-output)
  /// On a terminal the status line is redrawn this often while runs are in flight; zero: only when a
  /// run finishes.
  std::chrono::milliseconds redraw_interval{250};
  /// The clock; tests fix it. Default: steady_clock::now.
  std::function<std::chrono::steady_clock::time_point()> now;
};

/// Progress as runs go, written to a descriptor it does not own (normally stderr). As a RunObserver it
/// follows every run in flight (its phase, for the status line; its output, with show_output).
///
/// On a terminal one status line (RenderProgressStatus) is rewritten in place ("\r", erase to end of
/// line), cut to the terminal's width, when a run finishes and every redraw_interval in between.
/// Otherwise (a pipe, a CI log) one plain line per finished run:
/// `[3/20] gateway=on order=patched #2: clean in 1.20ms, peak RSS 9.5MiB` (the #index is the record's
/// 0-based index, as in the JSON), followed by the detail in parentheses for any other outcome.
/// With show_output every line a target prints is written as it is read, `python3 #0 stderr| text`.
/// Text that came from a target is written TerminalSafe.
/// Thread-safe: every method may be called from any thread. Write errors are ignored: progress is
/// best-effort and never fails a run.
class ProgressLine : public RunObserver {
 public:
  ProgressLine(int fd, bool is_terminal, size_t total_runs, ProgressOptions options = {});
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  /// Stops the redraw timer.
  ~ProgressLine() override;

  void RunFinished(const RunRecord& record);
  /// Writes `text` (whole lines) above the status line: on a terminal the status line is erased first
  /// and comes back at the next redraw.
  void Print(std::string_view text);
  /// Stops the redraw timer; on a terminal, ends the status line with a newline (if one is drawn).
  /// Idempotent. RunFinished after Finish starts a new status line.
  void Finish();

  void OnPhase(const std::string& variant, int index, RunPhase phase,
               std::chrono::steady_clock::time_point since) override;
  void OnOutput(const std::string& variant, int index, const OutputLine& line) override;

 private:
  using Clock = std::chrono::steady_clock;
  struct Flight {
    RunPhase phase = RunPhase::kLaunching;
    Clock::time_point since;
    Clock::time_point launched;
  };

  void WriteAll(std::string_view text);
  ProgressSnapshot SnapshotLocked(Clock::time_point now) const;
  void DrawLocked();
  void TimerLoop();
  void StopTimer();

  const int fd_;
  const bool is_terminal_;
  const size_t total_;
  const ProgressOptions options_;
  const Clock::time_point start_;
  mutable std::mutex mu_;
  size_t done_ = 0;                                          // guarded by mu_
  std::map<Outcome, size_t> outcomes_;                       // guarded by mu_
  std::string last_;                                         // guarded by mu_
  bool line_open_ = false;                                   // guarded by mu_: a status line is drawn and not ended
  std::map<std::pair<std::string, int>, Flight> in_flight_;  // guarded by mu_
  double finished_seconds_ = 0;  // guarded by mu_: launch-to-finish times of runs seen whole
  size_t finished_count_ = 0;    // guarded by mu_
  bool stop_timer_ = false;      // guarded by mu_
  std::condition_variable timer_cv_;
  std::thread timer_;
};

}  // namespace coder::harness
