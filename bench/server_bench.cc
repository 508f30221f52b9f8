// Benchmarks of the real `coder server` binary: stop latency per shutdown order and gateway setting,
// start to ready, idle RSS. Every figure is on the harness's own clock (ChildProcess), so it is what
// `coder diag shutdown` would report.

#include <benchmark/benchmark.h>

#include <chrono>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "bench/server_process.h"

namespace coder::bench {
namespace {

constexpr auto kStopTimeout = std::chrono::seconds(30);

// Args: {gateway 0/1, unpatched 0/1}. Manual time: SIGTERM sent → exit seen through the pidfd.
void BM_ServerShutdown(benchmark::State& state) {
  ServerConfig config{.gateway = state.range(0) != 0, .unpatched = state.range(1) != 0};
  // Only the unpatched order with the gateway waits out the timeout; the smoke run shortens it through
  // the environment so CI proves the path without paying 10 s.
  if (config.gateway && config.unpatched) config.websocket_timeout = EnvOr("CODER_BENCH_WS_TIMEOUT", "");
  std::vector<double> latencies;
  int fingerprinted = 0;
  for (auto _ : state) {
    auto server = BenchServer::Start(config);
    if (!server) {
      Fail(state, server.error().message);
      break;
    }
    auto stop = (*server)->Stop(kStopTimeout);
    if (!stop) {
      Fail(state, stop.error().message);
      break;
    }
    state.SetIterationTime(stop->latency_ms / 1e3);
    latencies.push_back(stop->latency_ms);
    if ((*server)->LogContains("websocket shutdown timed out after")) ++fingerprinted;
  }
  ReportLatencies(state, latencies);
  if (!latencies.empty())
    state.counters["timeout_line_rate"] = static_cast<double>(fingerprinted) / static_cast<double>(latencies.size());
}
BENCHMARK(BM_ServerShutdown)
    ->ArgNames({"gateway", "unpatched"})
    ->Args({1, 0})
    ->Args({0, 0})
    ->Args({0, 1})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
// Each iteration pays the whole WebSocket timeout (10 s by default), so one iteration per repetition:
// scripts/bench-report takes the median over --benchmark_repetitions.
BENCHMARK(BM_ServerShutdown)
    ->ArgNames({"gateway", "unpatched"})
    ->Args({1, 1})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Manual time: just before fork/exec → the ready line read by the harness. Also the RSS at that moment.
void BM_ServerStartToReady(benchmark::State& state) {
  std::vector<double> ready;
  double rss_sum = 0;
  for (auto _ : state) {
    auto server = BenchServer::Start({});
    if (!server) {
      Fail(state, server.error().message);
      break;
    }
    const double ms =
        std::chrono::duration<double, std::milli>((*server)->ready_at() - (*server)->launched_at()).count();
    state.SetIterationTime(ms / 1e3);
    ready.push_back(ms);
    rss_sum += static_cast<double>(ProcessRssBytes((*server)->pid()));
  }
  ReportLatencies(state, ready);
  if (!ready.empty()) state.counters["rss_at_ready_mib"] = rss_sum / static_cast<double>(ready.size()) / (1 << 20);
}
BENCHMARK(BM_ServerStartToReady)->UseManualTime()->Unit(benchmark::kMillisecond);

// Resident memory of a ready server left idle (gateway on, no clients) for CODER_BENCH_IDLE_MS (500 by
// default), so that anything allocated lazily after the ready line is counted. Time is the idle wait.
void BM_ServerIdleRss(benchmark::State& state) {
  const auto idle = std::chrono::milliseconds(std::stol(EnvOr("CODER_BENCH_IDLE_MS", "500")));
  double max_rss = 0;
  for (auto _ : state) {
    auto server = BenchServer::Start({});
    if (!server) {
      Fail(state, server.error().message);
      break;
    }
    std::this_thread::sleep_for(idle);
    max_rss = std::max(max_rss, static_cast<double>(ProcessRssBytes((*server)->pid())));
    state.SetIterationTime(std::chrono::duration<double>(idle).count());
  }
  state.counters["idle_rss_mib"] = max_rss / (1 << 20);
}
BENCHMARK(BM_ServerIdleRss)->Iterations(3)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace coder::bench
