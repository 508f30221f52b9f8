#include "harness/experiment/runner.h"

#include <algorithm>
#include <condition_variable>
#include <thread>

#include "harness/process/subreaper.h"

namespace coder::harness {

Runner::Runner(Plan plan, RunOptions options, std::shared_ptr<const FingerprintSet> fingerprints,
               OnRunFinished on_finished)
    : plan_(std::move(plan)),
      options_(std::move(options)),
      fingerprints_(std::move(fingerprints)),
      on_finished_(std::move(on_finished)) {}

void Runner::RunBlock(const std::vector<Job>& jobs, int width, Clock::time_point epoch, RssSampler& sampler,
                      std::vector<RunRecord>& records) {
  std::mutex mu;
  std::condition_variable wake;  // an interrupt ends the wait for an open-loop launch time
  size_t next = 0;
  int in_progress = 0;  // runs between launch and record, guarded by mu
  const auto block_start = Clock::now();
  auto worker = [&] {
    for (;;) {
      Job job;
      size_t position = 0;
      {
        std::lock_guard lock(mu);
        if (next >= jobs.size() || active_.interrupted()) return;
        position = next++;
        job = jobs[position];
      }
      if (plan_.arrival_interval) {
        const auto due = block_start + *plan_.arrival_interval * static_cast<int64_t>(position);
        std::unique_lock lock(mu);
        wake.wait_until(lock, due, [&] { return active_.interrupted(); });
        if (active_.interrupted()) {
          ++unfinished_;
          continue;
        }
      }
      {
        std::lock_guard lock(mu);
        ++in_progress;
      }
      auto record =
          ExecuteRun(plan_.variants[job.variant], job.index, options_, *fingerprints_, sampler, active_, epoch);
      // A clean run's log says nothing a report needs, and a million of them would fill the memory.
      if (record && record->outcome == Outcome::kClean && !options_.keep_logs) record->log.reset();
      std::lock_guard lock(mu);
      // Helpers that left their target's process group (daemons) were re-parented to us; with no run in
      // progress they are all leftovers of finished runs. Under `mu`, so no run starts meanwhile.
      if (--in_progress == 0 && IsChildSubreaper()) KillOrphans();
      if (!record) {
        ++unfinished_;
        continue;
      }
      ++finished_;
      // A caller that streams the records keeps them itself: holding them here too would grow with the run count.
      if (on_finished_) on_finished_(*record);
      else records.push_back(std::move(*record));
    }
  };
  {
    std::lock_guard lock(hook_mu_);
    interrupt_hook_ = [&] {
      std::lock_guard wake_lock(mu);
      wake.notify_all();
    };
  }
  // Each worker returns only after its runs' targets are gone, so the parent-death signal bound to its
  // thread never fires on a live target.
  std::vector<std::thread> workers;
  const int threads = std::max(1, std::min<int>(width, static_cast<int>(jobs.size())));
  for (int t = 0; t < threads; ++t) workers.emplace_back(worker);
  for (auto& w : workers) w.join();
  {
    std::lock_guard lock(hook_mu_);
    interrupt_hook_ = nullptr;
  }
  unfinished_ += jobs.size() - std::min(jobs.size(), next);
}

std::vector<RunRecord> Runner::Run() {
  RssSamplerOptions sampler_options;
  sampler_options.interval = plan_.sample_interval;
  RssSampler sampler(sampler_options);
  sampler.Start();
  const auto epoch = Clock::now();
  std::vector<RunRecord> records;

  if (plan_.arrival_interval) {
    // Open loop: each variant is its own suite, run as a block on its own schedule after the previous
    // block has ended, so that the memory its tails hold together is its own and not mixed with another's.
    for (size_t v = 0; v < plan_.variants.size() && !active_.interrupted(); ++v) {
      std::vector<Job> jobs;
      for (int i = 0; i < plan_.runs; ++i) jobs.push_back({v, i});
      RunBlock(jobs, plan_.max_live, epoch, sampler, records);
    }
    if (active_.interrupted()) {
      const size_t planned = plan_.variants.size() * static_cast<size_t>(plan_.runs);
      unfinished_ = planned - std::min(planned, finished_.load());
    }
  } else {
    // Closed loop: runs interleaved across variants, so drift in the machine's load falls on all alike.
    std::vector<Job> jobs;
    for (int i = 0; i < plan_.runs; ++i)
      for (size_t v = 0; v < plan_.variants.size(); ++v) jobs.push_back({v, i});
    RunBlock(jobs, plan_.parallel, epoch, sampler, records);
  }
  sampler.Stop();
  sampler_cpu_ = sampler.cpu_time();
  // Whatever an interrupted run's target left outside its group goes with it.
  if (IsChildSubreaper()) KillOrphans();

  std::stable_sort(records.begin(), records.end(), [&](const RunRecord& a, const RunRecord& b) {
    auto rank = [&](const RunRecord& r) {
      for (size_t v = 0; v < plan_.variants.size(); ++v)
        if (plan_.variants[v].name == r.variant) return v;
      return plan_.variants.size();
    };
    return std::pair(rank(a), a.index) < std::pair(rank(b), b.index);
  });
  return records;
}

void Runner::Interrupt() {
  active_.StopAll();
  std::lock_guard lock(hook_mu_);
  if (interrupt_hook_) interrupt_hook_();
}

}  // namespace coder::harness
