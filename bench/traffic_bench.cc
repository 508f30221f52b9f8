// The traffic a run sends during the stop (--load): whether an open loop keeps its rate, and how fast
// `--load max` goes beside wrk on the same server and connections. Targets (docs/performance.md):
// 20000/s within 1% of the rate asked; max at least half of `wrk -t1 -c8`.

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include "bench/bench_util.h"
#include "bench/server_process.h"
#include "harness/process/event_loop.h"
#include "harness/traffic/traffic_session.h"

namespace coder::bench {
namespace {

namespace net = boost::asio;

/// How long each iteration sends: 1 s, shorter in the ctest smoke run.
std::chrono::milliseconds Window() {
  return std::chrono::milliseconds(std::stoi(EnvOr("CODER_BENCH_TRAFFIC_MS", "1000")));
}

/// A --load of `rate` (nullopt: max) on 8 connections to `server`'s /healthz for `window`, then the
/// target's exit as the session would see it; the record it made.
harness::TrafficRecord RunLoad(const BenchServer& server, std::optional<double> rate,
                               std::chrono::milliseconds window) {
  harness::TrafficSpec spec;
  spec.load = harness::LoadSpec{.rate_per_s = rate, .path = "/healthz", .connections = 8};
  const std::string port = std::to_string(server.port());
  harness::TrafficSession::Target target{{server.host(), port}, "http://" + server.host() + ":" + port, {}};
  auto& loop = harness::EventLoop::Shared();
  auto session = std::make_shared<harness::TrafficSession>(loop.context().get_executor(), spec, target);
  auto done = net::co_spawn(
      loop.context(),
      [session, window]() -> net::awaitable<harness::TrafficRecord> {
        (void)co_await session->Start();
        net::steady_timer timer(co_await net::this_coro::executor, window);
        co_await timer.async_wait(net::use_awaitable);
        const auto now = Clock::now();
        session->MarkSignal(now);
        session->MarkExit(now);
        co_await session->Settle(Clock::now() + std::chrono::seconds(1));
        co_return session->Close();
      },
      net::use_future);
  harness::TrafficRecord record = done.get();
  loop.RunAndWait([&] { session.reset(); });
  return record;
}

// Counters: achieved_per_s (requests begun per second), rate_error_pct (|achieved - asked| / asked),
// p99_ms (from each request's due time), errors (requests that failed).
void BM_TrafficLoadAtRate(benchmark::State& state) {
  const double rate = static_cast<double>(state.range(0));
  auto server = BenchServer::Start({});
  if (!server) return Fail(state, server.error().message);
  harness::TrafficRecord record;
  for (auto _ : state) record = RunLoad(**server, rate, Window());
  if (!record.load) return Fail(state, "no load record");
  const harness::LoadRecord& load = *record.load;
  state.counters["achieved_per_s"] = load.achieved_per_s;
  state.counters["rate_error_pct"] = 100.0 * std::abs(load.achieved_per_s - rate) / rate;
  state.counters["p99_ms"] = load.before.p99_ms;
  state.counters["errors"] = static_cast<double>(load.requests.error);
}
BENCHMARK(BM_TrafficLoadAtRate)->Arg(2000)->Arg(20000)->Iterations(1)->Unit(benchmark::kMillisecond);

// Counter per_s: answered requests a second with --load max.
void BM_TrafficLoadMax(benchmark::State& state) {
  auto server = BenchServer::Start({});
  if (!server) return Fail(state, server.error().message);
  harness::TrafficRecord record;
  for (auto _ : state) record = RunLoad(**server, std::nullopt, Window());
  if (!record.load) return Fail(state, "no load record");
  const harness::RequestFates& r = record.load->requests;
  state.counters["per_s"] =
      static_cast<double>(r.answered_before + r.answered_after) / (record.load->duration_ms / 1e3);
  state.counters["errors"] = static_cast<double>(r.error);
}
BENCHMARK(BM_TrafficLoadMax)->Iterations(1)->Unit(benchmark::kMillisecond);

// Counter per_s: wrk's "Requests/sec" with one thread and the same 8 connections on the same server:
// the yardstick for BM_TrafficLoadMax.
void BM_WrkMaxForComparison(benchmark::State& state) {
  auto server = BenchServer::Start({});
  if (!server) return Fail(state, server.error().message);
  const auto seconds = std::max<long>(1, Window().count() / 1000);
  const std::string command = "wrk -t1 -c8 -d" + std::to_string(seconds) + "s http://" + (*server)->host() + ":" +
                              std::to_string((*server)->port()) + "/healthz 2>&1";
  double per_s = 0;
  for (auto _ : state) {
    FILE* out = ::popen(command.c_str(), "r");
    if (out == nullptr) return Fail(state, "cannot run wrk");
    char line[512];
    while (std::fgets(line, sizeof line, out) != nullptr) std::sscanf(line, "Requests/sec: %lf", &per_s);
    if (::pclose(out) != 0 || per_s <= 0) return Fail(state, "wrk failed (scripts/setup installs it): " + command);
  }
  state.counters["per_s"] = per_s;
}
BENCHMARK(BM_WrkMaxForComparison)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace coder::bench
