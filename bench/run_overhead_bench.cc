// Where the harness's per-run time goes, on a target that exits at once (/bin/true): the bare spawn
// floor that hyperfine -N also stands on, the ChildProcess lifecycle, one /proc scan, and the whole
// ExecuteRun that `coder diag shutdown` performs per run. Real (wall) time: waits count.

#include <benchmark/benchmark.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include "bench/bench_util.h"
#include "harness/analysis/fingerprint.h"
#include "harness/experiment/run.h"
#include "harness/measure/rss_sampler.h"
#include "harness/process/child_process.h"
#include "harness/process/proc_fs.h"
#include "harness/process/subreaper.h"

extern char** environ;

namespace coder::bench {
namespace {

constexpr const char* kTrue = "/bin/true";

// posix_spawn + waitpid: what a minimal runner (hyperfine -N is one) pays per run.
void BM_SpawnBaseline(benchmark::State& state) {
  char* const argv[] = {const_cast<char*>(kTrue), nullptr};
  for (auto _ : state) {
    pid_t pid = 0;
    if (posix_spawn(&pid, kTrue, nullptr, nullptr, argv, environ) != 0) {
      Fail(state, "posix_spawn failed");
      break;
    }
    int status = 0;
    waitpid(pid, &status, 0);
  }
}
BENCHMARK(BM_SpawnBaseline)->UseRealTime()->Unit(benchmark::kMicrosecond);

// fork + execv + waitpid, nothing else: the part of ChildProcess::Start's cost that comes from fork
// copying the parent's page tables where posix_spawn shares them (CLONE_VM|CLONE_VFORK).
void BM_ForkExecBaseline(benchmark::State& state) {
  char* const argv[] = {const_cast<char*>(kTrue), nullptr};
  for (auto _ : state) {
    const pid_t pid = fork();
    if (pid == 0) {
      execv(kTrue, argv);
      _exit(127);
    }
    if (pid < 0) {
      Fail(state, "fork failed");
      break;
    }
    int status = 0;
    waitpid(pid, &status, 0);
  }
}
BENCHMARK(BM_ForkExecBaseline)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The harness's process layer alone: fork/exec in a new group with pipes and a pidfd, a reader thread,
// the exit seen, then Stop() (group kill, /proc scan for leftover members, wait4, orphan reaping, join).
// Arg: MiB the harness itself holds resident meanwhile. ChildProcess::Start forks, and fork copies the
// parent's page tables, so the spawn grows with the harness's own memory (posix_spawn's vfork does
// not). Counters: the mean wall time of each phase, in µs.
void BM_ChildProcessLifecycle(benchmark::State& state) {
  using Clock = std::chrono::steady_clock;
  std::vector<char> ballast(static_cast<size_t>(state.range(0)) << 20, 1);  // touched: resident
  benchmark::DoNotOptimize(ballast.data());
  Clock::duration start{}, wait{}, stop{};
  for (auto _ : state) {
    harness::LaunchSpec spec;
    spec.argv = {kTrue};
    const auto t0 = Clock::now();
    auto child = harness::ChildProcess::Start(std::move(spec));
    if (!child) {
      Fail(state, child.error().message);
      break;
    }
    const auto t1 = Clock::now();
    (*child)->WaitUntil(t1 + std::chrono::seconds(5));
    const auto t2 = Clock::now();
    (*child)->Stop();
    start += t1 - t0;
    wait += t2 - t1;
    stop += Clock::now() - t2;
  }
  const auto us = [&](Clock::duration d) {
    return std::chrono::duration<double, std::micro>(d).count() / static_cast<double>(state.iterations());
  };
  state.counters["start_us"] = us(start);
  state.counters["wait_exit_us"] = us(wait);
  state.counters["stop_us"] = us(stop);
}
BENCHMARK(BM_ChildProcessLifecycle)
    ->ArgName("harness_mib")
    ->Arg(0)
    ->Arg(256)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// One LiveDescendants call (ChildProcess::Stop makes at least one per run): it reads /proc/<pid>/stat
// of every process on the machine, so it grows with the machine's process count (counter `processes`).
void BM_LiveDescendantsScan(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(harness::LiveDescendants(getpid()));
  state.counters["processes"] = static_cast<double>(harness::ListPids().size());
}
BENCHMARK(BM_LiveDescendantsScan)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The whole per-run path of `coder diag shutdown -- /bin/true` (minus the CLI and reporting): run dir,
// free port, spawn, readiness wait that ends with the exit, RSS sampler add/remove, Stop, the record.
// Arg sampler: 1 runs the RSS sampler's thread as `coder diag` does; 0 leaves it stopped (Add and Remove
// still happen), which isolates what its ticks cost a run (a /proc scan when a target's tree empties,
// under the lock Remove waits on).
void BM_ExecuteRun(benchmark::State& state) {
  (void)harness::BecomeChildSubreaper();  // as `coder diag` is
  auto fingerprints = harness::FingerprintSet::Create({});
  if (!fingerprints) {
    Fail(state, fingerprints.error().message);
    return;
  }
  harness::RssSampler sampler;
  if (state.range(0) != 0) sampler.Start();
  harness::ActiveChildren active;
  harness::RunOptions options;
  harness::VariantSpec variant{.name = "true", .argv = {kTrue}};
  int index = 0;
  for (auto _ : state) {
    auto rec = harness::ExecuteRun(variant, index++, options, **fingerprints, sampler, active);
    if (!rec || rec->outcome != harness::Outcome::kFailedToStart) {
      Fail(state, "unexpected outcome for /bin/true");
      break;
    }
  }
  sampler.Stop();
}
BENCHMARK(BM_ExecuteRun)->ArgName("sampler")->Arg(1)->Arg(0)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace coder::bench
