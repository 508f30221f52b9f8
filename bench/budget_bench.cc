// The overlapping-tail memory budget over long timelines: an open-loop schedule of many targets, each
// sampled every 10 ms for its whole life, as `coder diag shutdown --arrival-interval` produces.

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "harness/analysis/budget.h"

namespace coder::bench {
namespace {

// Target i launches at i × 200 ms and lives samples × 10 ms; it is signalled at 40% of its life, so
// 60% is tail (the unpatched suite's shape) and about (samples × 10 / 200) targets overlap.
std::vector<harness::TargetTimeline> Schedule(int targets, int samples) {
  std::vector<harness::TargetTimeline> runs(static_cast<size_t>(targets));
  for (int i = 0; i < targets; ++i) {
    auto& r = runs[static_cast<size_t>(i)];
    r.launch_ms = i * 200.0;
    r.exit_ms = r.launch_ms + samples * 10.0;
    r.signal_ms = r.launch_ms + samples * 4.0;
    r.samples.reserve(static_cast<size_t>(samples));
    for (int s = 0; s < samples; ++s) {
      // ~6 MiB with a wobble, so successive samples differ and every one is an event of the sweep.
      const double wobble = std::sin(0.05 * s + i) * (512 << 10);
      r.samples.push_back({r.launch_ms + s * 10.0 + 0.5, static_cast<uint64_t>((6 << 20) + wobble)});
    }
  }
  return runs;
}

// Args: {targets, samples per target}. Items: samples swept.
void BM_AnalyzeBudget(benchmark::State& state) {
  const auto runs = Schedule(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  const uint64_t budget = uint64_t{256} << 20;
  for (auto _ : state) {
    auto analysis = harness::AnalyzeBudget(runs, budget);
    benchmark::DoNotOptimize(analysis);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * state.range(0) * state.range(1));
}
BENCHMARK(BM_AnalyzeBudget)
    ->ArgNames({"targets", "samples"})
    ->Args({100, 1000})
    ->Args({1000, 1000})
    ->Unit(benchmark::kMillisecond);

// The --assume-rss projection of the same schedule (samples ignored: only launches, signals and exits).
void BM_ProjectBudget(benchmark::State& state) {
  const auto runs = Schedule(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  const uint64_t assume = static_cast<uint64_t>(7.6 * (1ull << 30));
  const uint64_t budget = uint64_t{17} << 30;
  for (auto _ : state) {
    auto analysis = harness::ProjectBudget(runs, assume, budget);
    benchmark::DoNotOptimize(analysis);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_ProjectBudget)->ArgNames({"targets", "samples"})->Args({1000, 1000})->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace coder::bench
