// The history (docs/history.md) at the size a fleet reaches: ingest speed, and `check` and `show` over
// 1 000 000 stored runs (CODER_BENCH_HISTORY_RUNS makes the history smaller for the ctest smoke run).
// The runs are shaped like the built-in matrix's real ones (bench/report_fixture.h): a run's key hashes
// its whole record, RSS timeline and log tail included, so their size is what ingest pays for.

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/report_fixture.h"
#include "harness/history/history_store.h"
#include "harness/history/history_trend.h"
#include "tests/support/temp_dir.h"

namespace coder::bench {
namespace {

constexpr int kBatch = 1000;  // runs a report carries: one transaction, one commit each
constexpr int kRunners = 8;
constexpr double kSpanDays = 200;     // the time the history covers
constexpr double kFixAtShare = 0.75;  // the fix lands three quarters in; the fingerprint stops there
const std::string kFingerprint = "websocket-shutdown-timeout";

int HistoryRuns() {
  const char* env = std::getenv("CODER_BENCH_HISTORY_RUNS");
  return env ? std::max(1000, std::atoi(env)) : 1'000'000;
}

// "2026-05-01T00:00:00.000Z" plus `share` of the span.
std::string TimeAt(double share) {
  const auto ms = static_cast<int64_t>(share * kSpanDays * 86'400'000.0);
  const int64_t day = ms / 86'400'000, in_day = ms % 86'400'000;
  // 2026-05-01 + day, months of 31, 30, 31, ... are not needed: dates are only ordered and bucketed, so a
  // proleptic 30-day month keeps them valid and ordered.
  const int64_t month = 5 + day / 30, mday = 1 + day % 30;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", 2026 + (month - 1) / 12, (month - 1) % 12 + 1, mday,
                     in_day / 3'600'000, in_day / 60'000 % 60, in_day / 1000 % 60, in_day % 1000);
}

// Run `i` of `total`: its record from the built-in matrix, 1% of them hit before the fix, none after.
harness::RunRecord HistoryRun(int i, int total, const std::vector<harness::VariantSpec>& variants) {
  harness::RunRecord run = SyntheticRun(i, variants);
  run.fingerprints.clear();
  if (static_cast<double>(i) / total < kFixAtShare && i % 100 == 7) run.fingerprints.push_back(kFingerprint);
  return run;
}

harness::RunOrigin OriginOf(int i, int total) {
  harness::RunOrigin origin;
  origin.commit = fmt::format("{:040x}", static_cast<uint64_t>(i) / kBatch + 0xc0ffee0000ULL);
  origin.branch = "main";
  origin.runner = fmt::format("linux-{}", i / kBatch % kRunners);
  origin.at = TimeAt(static_cast<double>(i) / total);
  return origin;
}

/// A history of HistoryRuns() runs, built once for the benchmarks that read it.
class BenchHistory {
 public:
  static BenchHistory& Get() {
    static BenchHistory history;
    return history;
  }
  harness::HistoryStore* store() { return store_.get(); }
  const std::string& error() const { return error_; }
  int runs() const { return runs_; }
  std::string fix_at() const { return TimeAt(kFixAtShare); }

 private:
  BenchHistory() : runs_(HistoryRuns()) {
    auto store = harness::HistoryStore::Open((dir_.path() / "history.db").string());
    if (!store) {
      error_ = store.error().message;
      return;
    }
    store_ = std::move(*store);
    const auto variants = MatrixVariants();
    for (int start = 0; start < runs_; start += kBatch) {
      std::vector<harness::RunRecord> batch;
      for (int i = start; i < std::min(runs_, start + kBatch); ++i) batch.push_back(HistoryRun(i, runs_, variants));
      if (auto added = store_->Ingest(OriginOf(start, runs_), batch); !added) {
        error_ = added.error().message;
        return;
      }
    }
  }
  test_support::TempDir dir_;
  int runs_;
  std::unique_ptr<harness::HistoryStore> store_;
  std::string error_;
};

// Runs/s of an ingest of 100 000 runs in one transaction: a fresh file per iteration, so every
// iteration stores them anew.
void BM_HistoryIngest(benchmark::State& state) {
  const int runs = std::min(100'000, HistoryRuns());
  const auto variants = MatrixVariants();
  std::vector<harness::RunRecord> batch;
  for (int i = 0; i < runs; ++i) batch.push_back(HistoryRun(i, runs, variants));
  int64_t stored = 0;
  for (auto _ : state) {
    state.PauseTiming();
    test_support::TempDir dir;
    auto store = harness::HistoryStore::Open((dir.path() / "history.db").string());
    state.ResumeTiming();
    if (!store) return Fail(state, store.error().message);
    auto added = (*store)->Ingest(OriginOf(0, runs), batch);
    if (!added) return Fail(state, added.error().message);
    stored += static_cast<int64_t>(added->added);
    state.PauseTiming();
    store->reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(stored);
}
BENCHMARK(BM_HistoryIngest)->Unit(benchmark::kMillisecond)->UseRealTime();

// `check --fingerprint F --since FIX` over the whole history.
void BM_HistoryCheckFingerprint(benchmark::State& state) {
  BenchHistory& history = BenchHistory::Get();
  if (!history.store()) return Fail(state, history.error());
  const harness::RecurrenceSelector selector{harness::RecurrenceSelector::Kind::kFingerprint, kFingerprint};
  for (auto _ : state) {
    auto counts = history.store()->CountAround(selector, {}, history.fix_at());
    if (!counts) return Fail(state, counts.error().message);
    benchmark::DoNotOptimize(counts->first.hits);
  }
  state.counters["runs"] = history.runs();
}
BENCHMARK(BM_HistoryCheckFingerprint)->Unit(benchmark::kMillisecond)->UseRealTime();

// `check --outcome O --since FIX --variant V`.
void BM_HistoryCheckOutcomeOfAVariant(benchmark::State& state) {
  BenchHistory& history = BenchHistory::Get();
  if (!history.store()) return Fail(state, history.error());
  const harness::RecurrenceSelector selector{harness::RecurrenceSelector::Kind::kOutcome, "timeout-fingerprint"};
  const std::string variant = MatrixVariants().at(1).name;
  for (auto _ : state) {
    auto counts = history.store()->CountAround(selector, {variant, std::nullopt}, history.fix_at());
    if (!counts) return Fail(state, counts.error().message);
    benchmark::DoNotOptimize(counts->first.hits);
  }
  state.counters["runs"] = history.runs();
}
BENCHMARK(BM_HistoryCheckOutcomeOfAVariant)->Unit(benchmark::kMillisecond)->UseRealTime();

// `show --by B [--since FIX] [--last N]` as RunHistoryShow does it: where the latest buckets start, their
// runs read, bucketed. The default (the latest 20 buckets) reads the runs of those buckets only; --last 0
// reads the whole window.
void BM_HistoryShow(benchmark::State& state) {
  BenchHistory& history = BenchHistory::Get();
  if (!history.store()) return Fail(state, history.error());
  harness::TrendOptions options;
  options.by = static_cast<harness::TrendBy>(state.range(0));
  options.last = static_cast<size_t>(state.range(1));
  const std::string since = state.range(2) ? history.fix_at() : "";
  size_t runs_read = 0;
  for (auto _ : state) {
    auto start = history.store()->StartOfLatestBuckets({}, since, options.by, options.last);
    if (!start) return Fail(state, start.error().message);
    auto window = history.store()->ReadWindow({}, *start);
    if (!window) return Fail(state, window.error().message);
    const harness::Trend trend = harness::BuildTrend(*window, options);
    benchmark::DoNotOptimize(trend.buckets.data());
    runs_read = window->runs.size();
  }
  state.counters["runs"] = history.runs();
  state.counters["runs_read"] = static_cast<double>(runs_read);
}
BENCHMARK(BM_HistoryShow)
    ->ArgNames({"by", "last", "since_fix"})
    ->Args({static_cast<int>(harness::TrendBy::kCommit), 20, 0})
    ->Args({static_cast<int>(harness::TrendBy::kDay), 20, 0})
    ->Args({static_cast<int>(harness::TrendBy::kRunner), 20, 1})
    ->Args({static_cast<int>(harness::TrendBy::kCommit), 0, 1})
    ->Args({static_cast<int>(harness::TrendBy::kCommit), 0, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace coder::bench
