#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/result.h"

namespace coder::harness {

/// One observation of a target's process tree.
struct RssSample {
  std::chrono::steady_clock::time_point at;
  uint64_t tree_rss_bytes = 0;  ///< sum of resident set sizes (shared pages count once per process)
  int process_count = 0;        ///< live processes summed (zombies excluded)
};

struct RssSamplerOptions {
  /// How often every target's resident set is read.
  std::chrono::microseconds interval{10'000};
  /// How often the periodic ticks look for new descendants through every thread's children list.
  /// Reading those lists each tick would cost one read per thread; a process that lives shorter than
  /// this may be missed by the ticks (SampleNow always looks).
  std::chrono::microseconds discovery_interval{50'000};
  /// How often /proc is scanned for members of a target's process group that are no longer its
  /// descendants (re-parented after their parent died). Also done once before a target is declared ended.
  std::chrono::microseconds group_scan_interval{1'000'000};
  /// Samples kept per target. When full, adjacent pairs merge keeping the one with the larger RSS, and
  /// later ticks merge in groups of the same (doubled) stride: the timeline always spans the whole run
  /// at a coarser resolution and its peak survives exactly.
  size_t max_samples_per_target = 4096;
};

/// Samples the resident memory of many process trees at once on one background thread.
///
/// A target is a pid plus its descendants (followed through /proc/<pid>/task/*/children) and, when the
/// target leads its process group, the group's other members. Each tick reads /proc/<pid>/statm through
/// a descriptor kept open per process (one pread per process per tick; the descriptor also pins the
/// process, so a recycled pid is never mistaken for it). When no process of a target is left, one last
/// sample with zero processes marks the end and sampling of that target stops.
///
/// Thread-safe: all methods may be called from any thread. Memory per target is bounded by
/// max_samples_per_target.
class RssSampler {
 public:
  explicit RssSampler(RssSamplerOptions options = {});
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;
  /// Stops the thread.
  ~RssSampler();

  /// Starts the sampling thread; a no-op when it runs. Targets added before Start are sampled from then.
  void Start();
  /// Stops and joins the thread; idempotent. Timelines stay readable; Start may be called again.
  void Stop();

  /// Begins sampling `pid`'s tree. Adding a pid that is already sampled is a no-op; an Error when the
  /// process does not exist.
  Status Add(pid_t pid);
  /// Stops sampling `pid` and returns its timeline (oldest first); empty when unknown. Idempotent.
  std::vector<RssSample> Remove(pid_t pid);
  /// A copy of `pid`'s timeline so far; empty when unknown.
  std::vector<RssSample> Timeline(pid_t pid) const;
  /// Takes one sample of `pid`'s tree now, besides the periodic ones: a run shorter than the interval still
  /// gets samples at the moments that matter (launch, ready, the stop signal). Unlike a periodic tick it
  /// first looks for new descendants (and, when some may have left the tree, for the group's other
  /// members), whatever discovery_interval says, so a process forked just before counts. Blocks other
  /// calls for one /proc read per thread of the tree (and a scan of /proc when needed). No-op for an
  /// unknown or ended pid.
  void SampleNow(pid_t pid);
  /// Whether sampling of `pid` has ended because its whole tree is gone.
  bool Ended(pid_t pid) const;

  /// CPU time the sampling thread has used so far (for checking the sampler's own cost).
  std::chrono::nanoseconds cpu_time() const { return std::chrono::nanoseconds(cpu_ns_.load()); }

 private:
  struct Target;

  void Run();
  void Tick(std::chrono::steady_clock::time_point now);
  // mu_ held. `may_end`: whether a tree found empty may be declared ended now.
  void SampleTarget(Target& target, std::chrono::steady_clock::time_point now, bool may_end = true);
  // `only`: scan for that target's group alone; null: for every target.
  void ScanGroups(bool force, const Target* only = nullptr);
  bool MayHaveEscapees() const;  // mu_ held

  const RssSamplerOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_requested_ = false;                            // guarded by mu_
  std::map<pid_t, std::unique_ptr<Target>> targets_;       // guarded by mu_
  std::chrono::steady_clock::time_point last_group_scan_;  // sampling thread only
  std::atomic<int64_t> cpu_ns_{0};
  std::mutex lifecycle_mu_;  // serialises Start and Stop
  std::thread thread_;
};

}  // namespace coder::harness
