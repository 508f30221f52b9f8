// Throughput of the harness's per-line log work over a large realistic log (bench/log_corpus.h).

#include <benchmark/benchmark.h>

#include <set>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/log_corpus.h"
#include "harness/analysis/fingerprint.h"
#include "harness/builtin/builtin_log.h"

namespace coder::bench {
namespace {

// 32 MiB: larger than the caches of these machines, so the scan streams from memory as a long log would.
// Built per benchmark and freed after it: kept for the whole program, it would make every later fork
// (ChildProcess::Start in the other benchmarks) copy its page tables.
LogCorpus Corpus() { return BuildLogCorpus(32 << 20); }

void ScanAll(benchmark::State& state, const std::vector<std::string>& user_specs) {
  auto set = harness::FingerprintSet::Create(user_specs);
  if (!set) {
    Fail(state, set.error().message);
    return;
  }
  const LogCorpus corpus = Corpus();
  size_t matched_total = 0;
  for (auto _ : state) {
    std::set<std::string> matched;
    for (std::string_view line : corpus.lines) (*set)->Scan(line, matched);
    matched_total += matched.size();
    benchmark::DoNotOptimize(matched);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(corpus.bytes()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(corpus.lines.size()));
  state.counters["matched"] = static_cast<double>(matched_total) / static_cast<double>(state.iterations());
}

// FingerprintSet::Scan with the built-in set, line by line as ExecuteRun feeds it. Target: ≥ 500 MB/s.
void BM_FingerprintScan(benchmark::State& state) { ScanAll(state, {}); }
BENCHMARK(BM_FingerprintScan)->Unit(benchmark::kMillisecond);

// The same with three typical user fingerprints (--fingerprint NAME=REGEX).
void BM_FingerprintScanWithUserPatterns(benchmark::State& state) {
  ScanAll(state, {"panic=panic: ", "oom=(?i)out of memory", "deadline=context deadline exceeded"});
}
BENCHMARK(BM_FingerprintScanWithUserPatterns)->Unit(benchmark::kMillisecond);

// Everything the run's line callback does per line (harness/run.cc LineState::OnLine): Scan, the
// shutdown-step parse and the timeout-line check, which also parses the held slots on a match.
void BM_LogLinePipeline(benchmark::State& state) {
  auto set = harness::FingerprintSet::Create({});
  if (!set) {
    Fail(state, set.error().message);
    return;
  }
  const LogCorpus corpus = Corpus();
  for (auto _ : state) {
    std::set<std::string> matched;
    std::vector<harness::StepTiming> steps;
    std::vector<std::string> held;
    for (std::string_view line : corpus.lines) {
      (*set)->Scan(line, matched);
      if (auto step = harness::builtin::ParseStepLine(line)) steps.push_back(std::move(*step));
      if ((*set)->TimeoutSeconds(line)) held = harness::builtin::ParseHeldSlots(line);
    }
    benchmark::DoNotOptimize(steps);
    benchmark::DoNotOptimize(held);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(corpus.bytes()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(corpus.lines.size()));
}
BENCHMARK(BM_LogLinePipeline)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace coder::bench
