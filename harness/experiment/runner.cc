#include "harness/experiment/runner.h"

#include <algorithm>
#include <future>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "harness/process/event_loop.h"
#include "harness/process/subreaper.h"

namespace coder::harness {

namespace net = boost::asio;

Runner::Runner(Plan plan, RunOptions options, std::shared_ptr<const FingerprintSet> fingerprints,
               OnRunFinished on_finished)
    : plan_(std::move(plan)),
      options_(std::move(options)),
      fingerprints_(std::move(fingerprints)),
      on_finished_(std::move(on_finished)) {}

void Runner::RunBlock(const std::vector<Job>& jobs, int width, Clock::time_point epoch, RssSampler& sampler,
                      std::vector<RunRecord>& records) {
  // Every worker is a coroutine on the loop, and everything below that they touch is touched there only.
  net::io_context& context = EventLoop::Shared().context();
  size_t next = 0;
  int in_progress = 0;                            // runs between launch and record
  std::vector<net::steady_timer*> arrival_waits;  // open-loop launch times being waited for
  const auto block_start = Clock::now();
  auto worker = [&]() -> net::awaitable<void> {
    for (;;) {
      if (next >= jobs.size() || active_.interrupted()) co_return;
      const size_t position = next++;
      const Job job = jobs[position];
      if (plan_.arrival_interval) {
        net::steady_timer due(context, block_start + *plan_.arrival_interval * static_cast<int64_t>(position));
        arrival_waits.push_back(&due);
        // An interrupt cancels it (the hook below).
        if (!active_.interrupted()) (void)co_await due.async_wait(net::as_tuple(net::use_awaitable));
        std::erase(arrival_waits, &due);
        if (active_.interrupted()) {
          ++unfinished_;
          continue;
        }
      }
      ++in_progress;
      auto record = co_await ExecuteRunOnLoop(plan_.variants[job.variant], job.index, options_, *fingerprints_, sampler,
                                              active_, epoch);
      // A clean run's log says nothing a report needs, and a million of them would fill the memory.
      if (record && record->outcome == Outcome::kClean && !options_.keep_logs) record->log.reset();
      // Helpers that left their target's process group (daemons) were re-parented to us; with no run in
      // progress they are all leftovers of finished runs. Here, on the loop, no run starts meanwhile;
      // with none in progress, nothing on the loop waits for it either.
      if (--in_progress == 0 && IsChildSubreaper()) KillOrphans();
      if (!record) {
        ++unfinished_;
        continue;
      }
      ++finished_;
      // Recorded in a task of its own, after this worker has launched its next target (the launch blocks
      // the loop until execve): the record's writing overlaps the next target's start instead of delaying
      // it. Tasks run in the order posted, so records keep the order of their runs' ends.
      net::post(context, [this, &records, record = std::move(*record)]() mutable {
        // A caller that streams the records keeps them itself: holding them here too would grow with the run count.
        if (on_finished_) on_finished_(record);
        else records.push_back(std::move(record));
      });
    }
  };
  {
    std::lock_guard lock(hook_mu_);
    interrupt_hook_ = [&] {
      net::post(context, [&] {
        for (net::steady_timer* t : arrival_waits) t->cancel();
      });
    };
  }
  const int workers = std::max(1, std::min<int>(width, static_cast<int>(jobs.size())));
  std::promise<void> all_done;
  int running = workers;
  for (int w = 0; w < workers; ++w) {
    net::co_spawn(context, worker(), [&](std::exception_ptr error) {
      // A worker's exception is a bug of the harness's: rethrown on the loop, it ends the process loudly.
      if (error) std::rethrow_exception(error);
      // Posted, so it runs after the worker's last record, posted before it from this thread.
      net::post(context, [&] {
        if (--running == 0) all_done.set_value();
      });
    });
  }
  all_done.get_future().wait();
  {
    std::lock_guard lock(hook_mu_);
    interrupt_hook_ = nullptr;
  }
  // What was posted before this runs before it (a cancel the hook posted before it was removed, the last
  // records): none runs once this frame is gone.
  EventLoop::Shared().RunAndWait([] {});
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
