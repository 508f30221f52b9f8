// Writing the JSON report of a large experiment: the built-in matrix, 1000 runs with their RSS
// timelines and log tails, shaped like real ones (fast stops have a few samples; 10 s tails have the
// full 512-point timeline, the timeout line and the held slot).

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "harness/report/report.h"
#include "harness/analysis/stats.h"
#include "tests/support/temp_dir.h"

namespace coder::bench {
namespace {

struct Experiment {
  harness::ReportMeta meta;
  std::vector<harness::VariantSpec> variants;
  std::vector<harness::VariantSummary> summaries;
  std::vector<harness::RunRecord> runs;
};

std::vector<std::string> ShutdownLog(bool timed_out) {
  std::vector<std::string> log = {
      "2026-11-24 05:07:44.869 [info] Started HTTP listener at http://127.0.0.1:36087  url=http://127.0.0.1:36087",
      "2026-11-24 05:07:45.961 [info] Stop caught, gracefully exiting. Use ctrl+\\ to force quit",
      "2026-11-24 05:07:45.961 [info] Shutting down API server...",
      "2026-11-24 05:07:45.961 [info] Gracefully shut down API server",
      "2026-11-24 05:07:45.961 [info] shutdown step done  step=api-drain took=74.7µs took_ms=0.075 completed=true",
      "2026-11-24 05:07:45.961 [info] shutdown step done  step=cancel-requests took=10.8µs took_ms=0.011 completed=true",
      "2026-11-24 05:07:45.961 [info] Closed notifications manager  kept_for_next_start=0",
      "2026-11-24 05:07:45.961 [info] shutdown step done  step=notifications took=12.6µs took_ms=0.013 completed=true",
      "2026-11-24 05:07:45.961 [info] Waiting for WebSocket connections to close...",
  };
  if (timed_out)
    log.push_back("2026-11-24 05:07:55.962 [warn] websocket shutdown timed out after 10 seconds  held=ai-gateway-rpc#1 held_count=1");
  log.push_back("2026-11-24 05:07:55.962 [info] AI gateway RPC session closed  session=ai-gateway-rpc#1");
  log.push_back("2026-11-24 05:07:55.962 [info] Closed AI gateway daemon");
  log.push_back("2026-11-24 05:07:55.963 [info] Shutdown complete in 10.001s: api-drain 68.3µs (0.0%), websocket-wait 10.000s (100.0%)");
  return log;
}

Experiment BuildExperiment(int total_runs) {
  Experiment e;
  e.meta.coder_version = "0.1.0";
  e.meta.started_at = "2026-11-24T04:19:37.265Z";
  e.meta.command_line = {"coder", "diag", "shutdown", "--runs", std::to_string(total_runs / 4), "--shutdown-order",
                         "patched,unpatched"};
  for (const char* order : {"patched", "unpatched"})
    for (const char* gateway : {"on", "off"}) {
      harness::VariantSpec v;
      v.name = std::string("order=") + order + ",gateway=" + gateway;
      v.argv = {"/usr/bin/coder", "server", "--http-address", "127.0.0.1:0", "--shutdown-order", order};
      v.builtin_server = true;
      v.gated = std::string(order) == "patched";
      v.baseline = !v.gated;
      v.known_timeout_ms = 10000;
      e.variants.push_back(v);
    }
  for (int i = 0; i < total_runs; ++i) {
    const auto& spec = e.variants[static_cast<size_t>(i) % e.variants.size()];
    const bool tail = spec.name == "order=unpatched,gateway=on";
    harness::RunRecord r;
    r.variant = spec.name;
    r.index = i / static_cast<int>(e.variants.size());
    r.outcome = tail ? harness::Outcome::kTimeoutFingerprint : harness::Outcome::kClean;
    r.detail = tail ? "a shutdown wait timed out on: ai-gateway-rpc#1" : "exited 0 after the signal";
    r.launch_ms = i * 23.5;
    r.ready_ms = 17.7 + (i % 7);
    r.signal_ms = *r.ready_ms + 0.05;
    r.latency_ms = tail ? 10004.0 + (i % 13) : 1.2 + 0.1 * (i % 17);
    r.exit_ms = *r.signal_ms + *r.latency_ms;
    r.exit = "exit 0";
    r.exit_code = 0;
    r.kernel_peak_rss_bytes = 9u << 20;
    r.tree_peak_rss_bytes = 5600000 + static_cast<uint64_t>(i % 100) * 4096;
    const int points = tail ? 512 : 4;
    for (int p = 0; p < points; ++p)
      r.rss_timeline.push_back({*r.exit_ms * p / points, 5500000 + static_cast<uint64_t>(p % 50) * 4096});
    if (tail) {
      r.fingerprints = {"latency-at-known-timeout", "websocket-shutdown-timeout"};
      r.held_slots = {"ai-gateway-rpc#1"};
    }
    r.steps = {{"api-drain", 0.075}, {"cancel-requests", 0.011}, {"notifications", 0.013},
               {"ai-gateway", 0.047}, {"websocket-wait", tail ? 10000.4 : 0.014}};
    r.log_tail = ShutdownLog(tail);
    r.log_lines = r.log_tail.size();
    e.runs.push_back(std::move(r));
  }
  for (const auto& spec : e.variants) {
    std::vector<harness::RunRecord> mine;
    for (const auto& r : e.runs)
      if (r.variant == spec.name) mine.push_back(r);
    e.summaries.push_back(harness::SummarizeVariant(spec, mine));
  }
  return e;
}

// ReportJson + the indented dump WriteReportJson writes. Bytes: the JSON text produced.
void BM_ReportJson(benchmark::State& state) {
  const Experiment e = BuildExperiment(static_cast<int>(state.range(0)));
  size_t bytes = 0;
  for (auto _ : state) {
    const std::string text = harness::DumpJson(harness::ReportJson(e.meta, e.variants, e.summaries, e.runs), 2);
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["report_mib"] = static_cast<double>(bytes) / (1 << 20);
}
BENCHMARK(BM_ReportJson)->ArgName("runs")->Arg(1000)->Unit(benchmark::kMillisecond);

// The same written to a file the way `--json` does (atomically: temporary file and rename).
void BM_ReportWriteFile(benchmark::State& state) {
  const Experiment e = BuildExperiment(static_cast<int>(state.range(0)));
  auto dir = test_support::TempDir::Create("bench-report");
  if (!dir) {
    Fail(state, dir.error().message);
    return;
  }
  const auto path = dir->path() / "report.json";
  for (auto _ : state) {
    auto written = harness::WriteReportJson(path, harness::ReportJson(e.meta, e.variants, e.summaries, e.runs));
    if (!written) {
      Fail(state, written.error().message);
      break;
    }
  }
}
BENCHMARK(BM_ReportWriteFile)->ArgName("runs")->Arg(1000)->Unit(benchmark::kMillisecond);

// One JSON line per run, as --jsonl writes each run when it ends. Items: runs.
void BM_RunRecordJsonLine(benchmark::State& state) {
  const Experiment e = BuildExperiment(static_cast<int>(state.range(0)));
  for (auto _ : state)
    for (const auto& r : e.runs) {
      const std::string line = harness::DumpJson(r.ToJson());
      benchmark::DoNotOptimize(line.data());
    }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_RunRecordJsonLine)->ArgName("runs")->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace coder::bench
