// The RssSampler's own cost while it samples 8 live `coder server` processes (the default target, with
// its threads) at 100 Hz: CPU time of the sampling thread over the wall time, as % of one core.

#include <benchmark/benchmark.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "bench/server_process.h"
#include "harness/measure/rss_sampler.h"

namespace coder::bench {
namespace {

// Args: {targets, descendant discovery interval in ms}. The harness uses 50 ms; 1000 ms shows what the
// discovery (a read of every thread's children list per target) costs of the total. One iteration is a
// sampling window of CODER_BENCH_SAMPLE_MS (3000 by default; the smoke run uses less); manual time is
// that window, so the reported time is the wall time sampled.
void BM_RssSampling(benchmark::State& state) {
  const int targets = static_cast<int>(state.range(0));
  harness::RssSamplerOptions options;  // the harness's defaults: 10 ms interval
  options.discovery_interval = std::chrono::milliseconds(state.range(1));
  const auto window = std::chrono::milliseconds(std::stol(EnvOr("CODER_BENCH_SAMPLE_MS", "3000")));
  std::vector<std::unique_ptr<BenchServer>> servers;
  for (int i = 0; i < targets; ++i) {
    auto server = BenchServer::Start({});
    if (!server) {
      Fail(state, server.error().message);
      return;
    }
    servers.push_back(std::move(*server));
  }
  harness::RssSampler sampler(options);
  size_t threads = 0;
  for (const auto& s : servers)
    for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(s->pid()) + "/task")) {
      (void)entry;
      ++threads;
    }
  for (const auto& s : servers) {
    if (auto added = sampler.Add(s->pid()); !added) {
      Fail(state, added.error().message);
      return;
    }
  }
  const auto cpu_before = sampler.cpu_time();
  const auto started = Clock::now();
  sampler.Start();
  for (auto _ : state) {
    std::this_thread::sleep_for(window);
    state.SetIterationTime(std::chrono::duration<double>(window).count());
  }
  sampler.Stop();
  const double wall = std::chrono::duration<double>(Clock::now() - started).count();
  const double cpu = std::chrono::duration<double>(sampler.cpu_time() - cpu_before).count();
  size_t samples = 0;
  for (const auto& s : servers) samples += sampler.Timeline(s->pid()).size();
  state.counters["cpu_pct_of_core"] = 100.0 * cpu / wall;
  state.counters["samples_per_target_per_s"] = static_cast<double>(samples) / targets / wall;
  if (samples > 0) state.counters["cpu_us_per_sample"] = cpu * 1e6 / static_cast<double>(samples);
  state.counters["threads_per_target"] = static_cast<double>(threads) / targets;
}
BENCHMARK(BM_RssSampling)
    ->ArgNames({"targets", "discovery_ms"})
    ->Args({8, 50})
    ->Args({8, 1000})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace coder::bench
