#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "harness/analysis/fingerprint.h"
#include "harness/analysis/run_record.h"
#include "harness/experiment/run.h"
#include "harness/measure/rss_sampler.h"

namespace coder::harness {

/// Runs every variant `runs` times.
/// - Closed loop (the default): at most `parallel` targets alive at once, each run starting when one
///   ends, the runs interleaved across variants (run 0 of each, then run 1 of each, ...) so that drift in
///   the machine's load falls on every variant alike.
/// - Open loop (`arrival_interval`): each variant in turn is a suite of its own: its run i is launched at
///   i × interval from the start of its block whether or not earlier ones have exited, at most `max_live`
///   at once (a launch that finds no place starts late). This is how the servers of a test suite overlap
///   when each lingers in its shutdown tail; blocks do not overlap, so each variant's overlapping memory
///   is its own.
///
/// Runs execute as coroutines on the shared EventLoop (ExecuteRunOnLoop), `parallel` of them at once
/// (a worker coroutine each, taking the next job as its run ends): no thread per run, and the loop's
/// thread, which launches every target, lives as long as the process, as a target's parent-death
/// signal requires. Run() blocks its caller until they are done. Interrupt() is thread-safe and may
/// come from a signal-watching thread.
class Runner {
 public:
  struct Plan {
    std::vector<VariantSpec> variants;
    int runs = 1;
    int parallel = 1;
    std::optional<std::chrono::microseconds> arrival_interval;  ///< set: open loop
    int max_live = 64;                                          ///< open loop: cap on live targets
    std::chrono::microseconds sample_interval{10'000};
  };
  using OnRunFinished = std::function<void(const RunRecord&)>;  // called on the loop's thread

  Runner(Plan plan, RunOptions options, std::shared_ptr<const FingerprintSet> fingerprints, OnRunFinished on_finished);

  /// Blocks until every run has finished or the runner was interrupted. Without an OnRunFinished, returns
  /// the finished runs in plan order (variant, then index); with one, each run goes only to it, in the
  /// order the runs finish, and the result is empty (so memory does not grow with the run count). Call once.
  std::vector<RunRecord> Run();

  /// Stops new runs and kills the targets of the runs in progress (those runs are not recorded).
  void Interrupt();
  bool interrupted() const { return active_.interrupted(); }
  /// Runs that were planned but not recorded because of an interrupt.
  size_t unfinished_runs() const { return unfinished_; }
  /// CPU time the RSS sampler's thread used, for the report.
  std::chrono::nanoseconds sampler_cpu_time() const { return sampler_cpu_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Job {
    size_t variant = 0;
    int index = 0;
  };
  /// Runs `jobs` on `width` worker coroutines; appends the finished runs to `records`.
  void RunBlock(const std::vector<Job>& jobs, int width, Clock::time_point epoch, RssSampler& sampler,
                std::vector<RunRecord>& records);

  Plan plan_;
  RunOptions options_;
  std::shared_ptr<const FingerprintSet> fingerprints_;
  OnRunFinished on_finished_;
  ActiveChildren active_;
  std::atomic<size_t> unfinished_{0};
  std::atomic<size_t> finished_{0};
  std::chrono::nanoseconds sampler_cpu_{0};
  std::mutex hook_mu_;
  std::function<void()> interrupt_hook_;  // wakes workers waiting for an open-loop launch time
};

}  // namespace coder::harness
