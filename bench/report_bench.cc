// Writing the JSON report of a large experiment: the built-in matrix, 1000 runs with their RSS
// timelines and log tails, shaped like real ones (fast stops have a few samples; 10 s tails have the
// full 512-point timeline, the timeout line and the held slot).

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/report_fixture.h"
#include "harness/analysis/stats.h"
#include "harness/report/report.h"
#include "tests/support/temp_dir.h"

namespace coder::bench {
namespace {

struct Experiment {
  harness::ReportMeta meta;
  std::vector<harness::VariantSpec> variants;
  std::vector<harness::VariantSummary> summaries;
  std::vector<harness::RunRecord> runs;
};

Experiment BuildExperiment(int total_runs) {
  Experiment e;
  e.meta.coder_version = "0.1.0";
  e.meta.started_at = "2026-11-24T04:19:37.265Z";
  e.meta.command_line = {
      "coder", "diag", "shutdown", "--runs", std::to_string(total_runs / 4), "--shutdown-order", "patched,unpatched"};
  e.variants = MatrixVariants();
  for (int i = 0; i < total_runs; ++i) e.runs.push_back(SyntheticRun(i, e.variants));
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

// The whole report path of `coder diag shutdown` for an experiment of N runs (a RunStore, then
// ReportExperiment writing the table, JSON, JUnit and Markdown), in a process of its own so that the
// peak RSS is the report's: memory must stay bounded whatever the run count. Counters: the probe's peak
// RSS, and what it grew by per run over the smallest size.
std::string RunProbe(int runs) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return "";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  const std::string count = std::to_string(runs);
  char* argv[] = {const_cast<char*>(REPORT_MEMORY_PROBE_PATH), const_cast<char*>(count.c_str()), nullptr};
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, REPORT_MEMORY_PROBE_PATH, &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; spawned == 0 && (n = ::read(pipe_fds[0], buf, sizeof buf)) != 0;)
    if (n > 0) out.append(buf, static_cast<size_t>(n));
    else if (errno != EINTR) break;
  ::close(pipe_fds[0]);
  int status = 0;
  if (spawned == 0) ::waitpid(pid, &status, 0);
  return spawned == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? out : "";
}

void BM_ReportOfManyRuns(benchmark::State& state) {
  const int runs = static_cast<int>(state.range(0));
  nlohmann::json result;
  for (auto _ : state) {
    const std::string out = RunProbe(runs);
    result = nlohmann::json::parse(out, nullptr, false);
    if (!result.is_object() || !result.contains("peak_rss_bytes")) {
      Fail(state, "the report probe failed: " + out);
      return;
    }
  }
  state.counters["peak_rss_mib"] = result["peak_rss_bytes"].get<double>() / (1 << 20);
  state.counters["report_mib"] = result["json_bytes"].get<double>() / (1 << 20);
  state.counters["probe_seconds"] = result["seconds"].get<double>();
}
// Up to 100 000 runs (about two minutes); CODER_BENCH_REPORT_MAX_RUNS lowers that for the smoke run.
const bool kManyRunsRegistered = [] {
  const char* max_env = std::getenv("CODER_BENCH_REPORT_MAX_RUNS");
  const long max_runs = max_env ? std::atol(max_env) : 100000;
  auto* b = benchmark::RegisterBenchmark("BM_ReportOfManyRuns", BM_ReportOfManyRuns);
  b->ArgName("runs")->Iterations(1)->Unit(benchmark::kMillisecond);
  for (long runs : {1000L, 10000L, 100000L})
    if (runs <= max_runs) b->Arg(runs);
  return true;
}();

}  // namespace
}  // namespace coder::bench
