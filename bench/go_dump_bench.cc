// A Go program's goroutine dump, taken as a hung run's is (SIGQUIT, its stderr captured) and analysed,
// and the analysis alone. Issue 15's target: 10 000 goroutines taken and analysed within 1 s.

#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "bench/bench_util.h"
#include "harness/analysis/go_dump.h"
#include "harness/experiment/runtime_dump.h"
#include "harness/process/active_children.h"
#include "harness/process/child_process.h"
#include "harness/process/event_loop.h"
#include "tests/support/go_build.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace coder::bench {
namespace {

// N goroutines parked on a channel, each holding a slot of the wait group main waits on.
constexpr const char* kManyGoroutines = R"(package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
)

func worker(wg, started *sync.WaitGroup, stop chan struct{}) {
	defer wg.Done()
	started.Done()
	<-stop
}

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	var wg, started sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		started.Add(1)
		go worker(&wg, &started, stop)
	}
	started.Wait()
	fmt.Println("goroutines ready")
	wg.Wait()
}
)";

/// The Go program, built once per benchmark process; its error when go is missing or the build fails.
const test_support::GoBuild& ManyGoroutinesProgram() {
  static test_support::TempDir dir("go-dump-bench");
  static const test_support::GoBuild build = test_support::BuildGoProgram(dir.path(), "many", kManyGoroutines);
  return build;
}

// Arg: goroutines. Each iteration launches the program (not timed), then times the SIGQUIT, the
// capture of its dump off stderr until the exit, the parse and the verdict.
void BM_GoDumpTakenAndAnalysed(benchmark::State& state) {
  const test_support::GoBuild& build = ManyGoroutinesProgram();
  if (!build.binary) return Fail(state, "no Go program: " + build.why);
  const std::string count = std::to_string(state.range(0));
  double bytes = 0;
  bool cut = false;
  harness::ActiveChildren active;
  for (auto _ : state) {
    state.PauseTiming();
    harness::LaunchSpec spec;
    spec.argv = {build.binary->string(), count};
    spec.env = {{"GOTRACEBACK", "all"}};
    auto child = harness::ChildProcess::Start(spec);
    if (!child) return Fail(state, child.error().message);
    if (!(*child)->WaitForLine([](const harness::OutputLine& l) { return l.text == "goroutines ready"; },
                               test_support::In(std::chrono::seconds(30))))
      return Fail(state, "the Go program never printed its ready line");
    state.ResumeTiming();
    harness::RuntimeDumps dumps =
        boost::asio::co_spawn(
            harness::EventLoop::Shared().context(),
            harness::TakeRuntimeDumps(**child, {(*child)->pid()}, *harness::DumpChoice::Parse("auto"), {}, active),
            boost::asio::use_future)
            .get();
    state.PauseTiming();
    if (dumps.dumps.size() != 1 || !dumps.dumps[0].error.empty())
      return Fail(state, dumps.dumps.empty() ? "no dump taken" : dumps.dumps[0].error);
    if (dumps.dumps[0].verdict.find(" in main.worker") == std::string::npos)
      return Fail(state, "the verdict misses the workers: " + dumps.dumps[0].verdict);
    bytes = static_cast<double>(dumps.dumps[0].text.size());
    cut = dumps.dumps[0].cut;
    (*child)->Stop();
    state.ResumeTiming();
  }
  state.counters["dump_bytes"] = bytes;
  state.counters["cut"] = cut ? 1 : 0;
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_GoDumpTakenAndAnalysed)->Arg(100)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();

// Arg: goroutines. The parse and the verdict of a dump of that many, as Go 1.19 prints them.
void BM_GoDumpAnalysis(benchmark::State& state) {
  std::string text = "SIGQUIT: quit\nPC=0x4657c1 m=0 sigcode=0\n\n";
  for (int64_t i = 0; i < state.range(0); ++i)
    text += fmt::format(
        "goroutine {} [chan receive]:\n"
        "runtime.gopark(0x0?, 0x0?, 0x0?, 0x0?, 0x0?)\n"
        "\t/usr/lib/go-1.19/src/runtime/proc.go:363 +0xd6 fp=0xc00003c6c8 sp=0xc00003c6a8 pc=0x437cf6\n"
        "runtime.chanrecv1(0x0?, 0x0?)\n"
        "\t/usr/lib/go-1.19/src/runtime/chan.go:442 +0x18 fp=0xc00003c780 sp=0xc00003c758 pc=0x406e18\n"
        "main.worker(0x0?, 0x0?)\n"
        "\t/src/many/main.go:12 +0x57 fp=0xc00003c7c0 sp=0xc00003c780 pc=0x4c9537\n"
        "created by main.main\n"
        "\t/src/many/main.go:20 +0x99\n\n",
        i + 2);
  for (auto _ : state) {
    std::string verdict = harness::GoDumpVerdict(harness::ParseGoDump(text));
    benchmark::DoNotOptimize(verdict);
  }
  state.counters["dump_bytes"] = static_cast<double>(text.size());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_GoDumpAnalysis)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace coder::bench
