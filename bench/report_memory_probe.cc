// Writes the reports of an experiment of N synthetic runs exactly as `coder diag shutdown` does (each
// run kept by a RunStore as it finishes, then ReportExperiment writes the table, JSON, JUnit and
// Markdown) and prints one JSON line on stderr: {"runs", "peak_rss_bytes", "seconds", "json_bytes"}.
// A process of its own, so that its peak RSS (getrusage) is the report's alone: BM_ReportOfManyRuns
// launches it. Usage: report_memory_probe RUNS. PROBE_NO_BUDGET=1 leaves out the memory budget analysis and
// PROBE_NO_FILES=1 the report files, to tell where memory goes.
#include <fcntl.h>
#include <fmt/format.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "bench/report_fixture.h"
#include "harness/experiment/diag_report.h"
#include "harness/report/run_store.h"
#include "tests/support/temp_dir.h"

int main(int argc, char** argv) {
  using namespace coder;
  if (argc != 2) {
    fmt::print(stderr, "usage: report_memory_probe RUNS\n");
    return 2;
  }
  const int total = std::atoi(argv[1]);
  auto scratch = test_support::TempDir::Create("report-probe");
  if (!scratch) {
    fmt::print(stderr, "{}\n", scratch.error().message);
    return 3;
  }
  const std::filesystem::path dir = scratch->path();
  const auto start = std::chrono::steady_clock::now();

  harness::Experiment e;
  e.variants = bench::MatrixVariants();
  std::vector<std::string> order;
  for (const auto& v : e.variants) order.push_back(v.name);
  auto store = harness::RunStore::Open(dir, order);
  if (!store) {
    fmt::print(stderr, "{}\n", store.error().message);
    return 3;
  }
  for (int i = 0; i < total; ++i)
    if (auto ok = (*store)->Add(bench::SyntheticRun(i, e.variants)); !ok) {
      fmt::print(stderr, "{}\n", ok.error().message);
      return 3;
    }
  e.runs = std::move(*store);
  e.meta.coder_version = "probe";
  harness::ReportOptions options;
  options.json = dir / "report.json";
  options.junit = dir / "report.xml";
  options.markdown = dir / "report.md";
  options.fail_on = *harness::ParseFailOn("all");
  if (std::getenv("PROBE_NO_BUDGET")) options.analyse_budget = false;
  if (std::getenv("PROBE_NO_FILES")) options.json = options.junit = options.markdown = std::nullopt;
  // The summary table is not what is measured here.
  if (!std::freopen("/dev/null", "w", stdout)) return 3;
  const int saved_stderr = ::dup(STDERR_FILENO);
  const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  ::dup2(null_fd, STDERR_FILENO);
  const int code = harness::ReportExperiment(std::move(e), options);
  ::dup2(saved_stderr, STDERR_FILENO);

  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  std::error_code ec;
  const auto json_bytes = std::filesystem::file_size(dir / "report.json", ec);
  fmt::print(
      stderr, "{{\"runs\": {}, \"peak_rss_bytes\": {}, \"seconds\": {:.3f}, \"json_bytes\": {}, \"exit\": {}}}\n",
      total, static_cast<uint64_t>(usage.ru_maxrss) * 1024,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), ec ? 0 : json_bytes, code);
  return code == 1 || code == 0 ? 0 : 3;
}
