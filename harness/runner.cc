#include "harness/runner.h"

#include <algorithm>
#include <thread>

namespace coder::harness {

Runner::Runner(Plan plan, RunOptions options, std::shared_ptr<const FingerprintSet> fingerprints,
               OnRunFinished on_finished)
    : plan_(std::move(plan)), options_(std::move(options)), fingerprints_(std::move(fingerprints)),
      on_finished_(std::move(on_finished)) {}

std::vector<RunRecord> Runner::Run() {
  struct Job {
    size_t variant;
    int index;
  };
  std::vector<Job> jobs;
  for (int i = 0; i < plan_.runs; ++i)
    for (size_t v = 0; v < plan_.variants.size(); ++v) jobs.push_back({v, i});

  RssSamplerOptions sampler_options;
  sampler_options.interval = plan_.sample_interval;
  RssSampler sampler(sampler_options);
  sampler.Start();

  std::mutex mu;
  size_t next = 0;
  std::vector<RunRecord> records;
  auto worker = [&] {
    for (;;) {
      Job job;
      {
        std::lock_guard lock(mu);
        if (next >= jobs.size() || active_.interrupted()) return;
        job = jobs[next++];
      }
      auto record = ExecuteRun(plan_.variants[job.variant], job.index, options_, *fingerprints_, sampler, active_);
      std::lock_guard lock(mu);
      if (!record) {
        ++unfinished_;
        continue;
      }
      if (on_finished_) on_finished_(*record);
      records.push_back(std::move(*record));
    }
  };
  const int threads = std::max(1, std::min<int>(plan_.parallel, static_cast<int>(jobs.size())));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) workers.emplace_back(worker);
  for (auto& w : workers) w.join();
  unfinished_ += jobs.size() - std::min(jobs.size(), next);
  sampler.Stop();
  sampler_cpu_ = sampler.cpu_time();

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

void Runner::Interrupt() { active_.StopAll(); }

}  // namespace coder::harness
