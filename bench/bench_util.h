#pragma once

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "harness/analysis/stats.h"

namespace coder::bench {

/// Per-iteration percentiles as counters. Google Benchmark's own aggregates are over repetitions (each a
/// mean of its iterations); the targets are percentiles of single stops, so each run reports its own,
/// nearest-rank like the diag report (harness::Summarize).
inline void ReportLatencies(benchmark::State& state, const std::vector<double>& ms, const std::string& prefix = "") {
  if (ms.empty()) return;
  const harness::Distribution d = harness::Summarize(ms);
  state.counters[prefix + "p50_ms"] = d.p50;
  state.counters[prefix + "p99_ms"] = d.p99;
  state.counters[prefix + "max_ms"] = d.max;
  state.counters[prefix + "samples"] = static_cast<double>(d.n);
}

/// SkipWithError copies the message, so a temporary string is fine here.
inline void Fail(benchmark::State& state, const std::string& message) { state.SkipWithError(message.c_str()); }

}  // namespace coder::bench
