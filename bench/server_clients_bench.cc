// Patched shutdown (gateway on) with many open WebSocket watchers: every one must receive the close
// frame 1001 (going away) before the server exits, so the stop pays a close handshake per client.

#include <benchmark/benchmark.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/server_process.h"
#include "bench/ws_clients.h"
#include "harness/analysis/fingerprint.h"
#include "harness/builtin/builtin_log.h"

namespace coder::bench {
namespace {

// Manual time: SIGTERM → server exit. Counter all_closed_p50_ms: SIGTERM → the last client's session ended.
void BM_ServerShutdownWithClients(benchmark::State& state) {
  const int clients = static_cast<int>(state.range(0));
  std::vector<double> latencies;
  std::vector<double> all_closed;
  std::map<std::string, double> step_ms;  // summed over iterations
  for (auto _ : state) {
    auto server = BenchServer::Start({});
    if (!server) {
      Fail(state, server.error().message);
      break;
    }
    std::string error;
    auto watchers = WatchClients::Connect((*server)->host(), (*server)->port(), (*server)->token(), clients, &error);
    if (!watchers) {
      Fail(state, "connecting watchers: " + error);
      break;
    }
    const auto signalled = Clock::now();
    auto stop = (*server)->Stop(std::chrono::seconds(30));
    if (!stop) {
      Fail(state, stop.error().message);
      break;
    }
    // The server has exited, so every session has ended or will within a moment (its socket is closed).
    const CloseTally tally = watchers->WaitAllEnded(Clock::now() + std::chrono::seconds(5));
    const int going_away = tally.by_code.count(1001) ? tally.by_code.at(1001) : 0;
    if (going_away != clients) {
      std::string codes;
      for (const auto& [code, n] : tally.by_code) codes += " " + std::to_string(n) + "×" + std::to_string(code);
      Fail(state, std::to_string(clients - going_away) + " of " + std::to_string(clients) +
                      " clients did not get close code 1001 (ended " + std::to_string(tally.ended) + ":" + codes + ")");
      break;
    }
    state.SetIterationTime(stop->latency_ms / 1e3);
    latencies.push_back(stop->latency_ms);
    // The server's own account of each shutdown step ("shutdown step done  step=NAME took=..."), so the
    // report says which step the clients cost.
    for (const auto& line : (*server)->LogLines())
      if (auto step = harness::builtin::ParseStepLine(line)) step_ms[step->name] += step->ms;
    all_closed.push_back(std::chrono::duration<double, std::milli>(tally.last_end - signalled).count());
  }
  ReportLatencies(state, latencies);
  if (!all_closed.empty()) state.counters["all_closed_p50_ms"] = harness::Summarize(all_closed).p50;
  for (const auto& [name, ms] : step_ms)
    state.counters["step_" + name + "_ms"] = ms / static_cast<double>(latencies.size());
}
BENCHMARK(BM_ServerShutdownWithClients)
    ->ArgName("clients")
    ->Arg(100)
    ->Arg(1000)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace coder::bench
