#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness/experiment/progress_line.h"
#include "harness/report/report.h"

namespace coder::harness {
namespace {

/// A pipe whose read side is drained after the writer is done. Tests write far less than the pipe's
/// capacity (64 KiB), so writes never block.
struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0); }
  ~Pipe() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
  int write_fd() const { return fds[1]; }
  std::string Drain() {
    ::close(fds[1]);
    fds[1] = -1;
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    return out;
  }
};

RunRecord Record(std::string variant, int index, Outcome outcome, std::optional<double> latency_ms, uint64_t rss) {
  RunRecord r;
  r.variant = std::move(variant);
  r.index = index;
  r.outcome = outcome;
  r.latency_ms = latency_ms;
  r.tree_peak_rss_bytes = rss;
  return r;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(text.substr(start, nl - start));
  EXPECT_EQ(start, text.size()) << "unterminated last line";
  return lines;
}

TEST(ProgressLineTest, NonTerminalPrintsOnePlainLinePerRun) {
  Pipe pipe;
  ProgressLine progress(pipe.write_fd(), false, 20);
  progress.RunFinished(Record("gateway=on order=patched", 2, Outcome::kClean, 1.2, 9'961'472));
  RunRecord timeout = Record("gateway=on order=unpatched", 0, Outcome::kTimeoutFingerprint, 10'004, 10 << 20);
  timeout.detail = "websocket shutdown timed out after 10 seconds";
  progress.RunFinished(timeout);
  RunRecord never = Record("custom", 1, Outcome::kNeverReady, std::nullopt, 0);
  never.detail = "no ready line within 30s";
  progress.RunFinished(never);
  progress.Finish();  // nothing to end off a terminal
  EXPECT_EQ(Lines(pipe.Drain()),
            (std::vector<std::string>{
                "[1/20] gateway=on order=patched #2: clean in 1.20ms, peak RSS 9.5MiB",
                "[2/20] gateway=on order=unpatched #0: timeout-fingerprint in 10.004s, peak RSS 10.0MiB "
                "(websocket shutdown timed out after 10 seconds)",
                "[3/20] custom #1: never-ready (no ready line within 30s)",
            }));
}

TEST(ProgressLineTest, NonTerminalCountsEachRunOnceAcrossThreads) {
  Pipe pipe;
  constexpr int kThreads = 4, kPerThread = 10;
  ProgressLine progress(pipe.write_fd(), false, kThreads * kPerThread);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i)
        progress.RunFinished(Record("v" + std::to_string(t), i, Outcome::kClean, 1.0, 0));
    });
  for (auto& th : threads) th.join();
  const auto lines = Lines(pipe.Drain());
  ASSERT_EQ(lines.size(), size_t{kThreads * kPerThread});
  std::set<int> done;
  for (const std::string& line : lines) {
    int k = 0, total = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "[%d/%d]", &k, &total), 2) << line;
    EXPECT_EQ(total, kThreads * kPerThread);
    done.insert(k);
  }
  EXPECT_EQ(done.size(), size_t{kThreads * kPerThread});
  EXPECT_EQ(*done.begin(), 1);
  EXPECT_EQ(*done.rbegin(), kThreads * kPerThread);
}

/// A clock the test moves by hand.
struct FakeClock {
  std::chrono::steady_clock::time_point t{std::chrono::seconds(1000)};
  std::function<std::chrono::steady_clock::time_point()> Fn() {
    return [this] { return t; };
  }
};

ProgressOptions Fixed(FakeClock& clock) {
  ProgressOptions o;
  o.redraw_interval = std::chrono::milliseconds(0);  // draws only when a run finishes: a fixed output
  o.now = clock.Fn();
  return o;
}

TEST(ProgressLineTest, TerminalRewritesOneStatusLineInPlaceAndFinishEndsItOnce) {
  Pipe pipe;  // not a tty: the width falls back to 80 columns
  FakeClock clock;
  ProgressLine progress(pipe.write_fd(), true, 3, Fixed(clock));
  clock.t += std::chrono::seconds(2);
  progress.RunFinished(Record("gateway=on order=patched", 0, Outcome::kClean, 1.2, 1 << 20));
  progress.RunFinished(Record("gateway=on order=unpatched", 0, Outcome::kTimeoutFingerprint, 10'004, 1 << 20));
  progress.Finish();
  progress.Finish();
  // The second line is cut to 79 columns, one short of the fallback width.
  EXPECT_EQ(pipe.Drain(),
            "\r\x1b[K[1/3] 1 clean | 2s | last gateway=on order=patched #0: clean in 1.20ms"
            "\r\x1b[K[2/3] 1 timeout-fingerprint, 1 clean | 2s | last gateway=on order=unpatched #0:"
            "\n");
}

TEST(ProgressLineTest, StatusShowsElapsedTheEstimateAndTheRunsInFlightLongestFirst) {
  ProgressSnapshot s;
  s.done = 3;
  s.total = 20;
  s.outcomes = {{Outcome::kClean, 2}, {Outcome::kSlow, 1}};
  s.elapsed_s = 62.4;
  s.left_s = 39.2;
  s.in_flight = {{"python3", 4, RunPhase::kWaitingForReady, 0.31},
                 {"python3", 3, RunPhase::kStopping, 4.24},
                 {"python3", 5, RunPhase::kHolding, 1.0}};
  EXPECT_EQ(RenderProgressStatus(s),
            "[3/20] 1 slow, 2 clean | 1m02s, ~40s left | python3 #3: stopping for 4.2s, python3 #5: holding for "
            "1.0s, python3 #4: starting for 0.3s");
}

TEST(ProgressLineTest, StatusBeforeAnyRunFinishedHasNoEstimateAndListsAtMostThreeRuns) {
  ProgressSnapshot s;
  s.total = 8;
  s.elapsed_s = 3725;
  for (int i = 0; i < 5; ++i) s.in_flight.push_back({"v", i, RunPhase::kLaunching, 0.01 * i});
  s.in_flight[2].phase = RunPhase::kStopping;
  s.in_flight[2].for_s = 75;
  EXPECT_EQ(RenderProgressStatus(s),
            "[0/8] | 1h02m | v #2: stopping for 1m15s, v #4: launching for 0.0s, v #3: launching for 0.0s, +2 more");
}

TEST(ProgressLineTest, StatusWithNothingInFlightShowsTheLastRunAndEscapesTargetText) {
  ProgressSnapshot s;
  s.done = 1;
  s.total = 1;
  s.outcomes = {{Outcome::kClean, 1}};
  s.left_s = 0.2;
  s.last = "sh #0: clean in 1.20ms";
  EXPECT_EQ(RenderProgressStatus(s), "[1/1] 1 clean | 0s, ~1s left | last sh #0: clean in 1.20ms");
  s.last.clear();
  s.in_flight = {{"evil\x1b[2J", 0, RunPhase::kStopping, 1}};
  EXPECT_EQ(RenderProgressStatus(s), "[1/1] 1 clean | 0s, ~1s left | evil\\x1b[2J #0: stopping for 1.0s");
}

TEST(ProgressLineTest, EstimateSharesTheMeanRunAmongTheParallelSlots) {
  EXPECT_EQ(EstimateSecondsLeft(std::nullopt, 10, {}, 2, std::nullopt), std::nullopt);
  // Closed loop: 8 runs of 2 s not started and two in flight with 1.5 s and 0 s left, over 2 slots.
  EXPECT_DOUBLE_EQ(*EstimateSecondsLeft(2.0, 8, {0.5, 3.0}, 2, std::nullopt), (8 * 2.0 + 1.5) / 2);
  // The last run in flight alone: what is left of its mean, not that divided by the slots.
  EXPECT_DOUBLE_EQ(*EstimateSecondsLeft(2.0, 0, {0.5}, 4, std::nullopt), 1.5);
  // A run past the mean is expected to end any moment.
  EXPECT_DOUBLE_EQ(*EstimateSecondsLeft(2.0, 0, {9.0}, 1, std::nullopt), 0.0);
  // Open loop: the remaining launches come on schedule, then the last one lives the mean.
  EXPECT_DOUBLE_EQ(*EstimateSecondsLeft(10.0, 5, {1.0}, 1, 0.2), 5 * 0.2 + 10.0);
  EXPECT_DOUBLE_EQ(*EstimateSecondsLeft(10.0, 0, {1.0, 4.0}, 1, 0.2), 9.0);
}

TEST(ProgressLineTest, PhasesFromTheObserverReachTheStatusLineAndFeedTheEstimate) {
  Pipe pipe;
  FakeClock clock;
  ProgressOptions options = Fixed(clock);
  options.parallel = 1;
  ProgressLine progress(pipe.write_fd(), true, 3, options);
  const auto t0 = clock.t;
  progress.OnPhase("v", 0, RunPhase::kLaunching, t0);
  progress.OnPhase("v", 0, RunPhase::kStopping, t0 + std::chrono::seconds(1));
  progress.OnPhase("v", 0, RunPhase::kFinished, t0 + std::chrono::seconds(4));
  progress.OnPhase("v", 1, RunPhase::kLaunching, t0 + std::chrono::seconds(4));
  progress.OnPhase("v", 1, RunPhase::kStopping, t0 + std::chrono::seconds(5));
  clock.t = t0 + std::chrono::milliseconds(6500);
  progress.RunFinished(Record("v", 0, Outcome::kSlow, 3000, 0));
  progress.Finish();
  // Run 0 took 4 s: run 1 has 1.5 s of its 4 s left, run 2 all 4 s, one at a time.
  EXPECT_EQ(pipe.Drain(), "\r\x1b[K[1/3] 1 slow | 6s, ~6s left | v #1: stopping for 1.5s\n");
}

TEST(ProgressLineTest, TheTimerRedrawsTheStatusLineWhileARunIsInFlight) {
  Pipe pipe;
  ProgressOptions options;
  options.redraw_interval = std::chrono::milliseconds(5);
  ProgressLine progress(pipe.write_fd(), true, 1, options);
  progress.OnPhase("v", 0, RunPhase::kLaunching, std::chrono::steady_clock::now());
  progress.OnPhase("v", 0, RunPhase::kStopping, std::chrono::steady_clock::now());
  // Nothing else happens: only the timer can draw. Its draws are the test's condition, read back from the pipe.
  std::string seen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (seen.find("v #0: stopping for") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd readable{pipe.fds[0], POLLIN, 0};
    if (::poll(&readable, 1, 100) != 1) continue;
    char buf[4096];
    const ssize_t n = ::read(pipe.fds[0], buf, sizeof buf);
    if (n > 0) seen.append(buf, static_cast<size_t>(n));
  }
  EXPECT_NE(seen.find("\r\x1b[K[0/1] | 0s | v #0: stopping for"), std::string::npos) << seen;
  progress.Finish();
}

TEST(ProgressLineTest, PrintErasesTheStatusLineAndShowOutputTagsEachLine) {
  Pipe pipe;
  FakeClock clock;
  ProgressOptions options = Fixed(clock);
  options.show_output = true;
  ProgressLine progress(pipe.write_fd(), true, 2, options);
  progress.RunFinished(Record("v", 0, Outcome::kClean, 1.2, 0));
  progress.OnOutput("v", 1, OutputLine{{}, 2, "python3: error: \x1b]0;title\x07", false});
  progress.OnOutput("v", 1, OutputLine{{}, 1, "listening", false});
  progress.Finish();
  EXPECT_EQ(pipe.Drain(),
            "\r\x1b[K[1/2] 1 clean | 0s | last v #0: clean in 1.20ms"
            "\r\x1b[Kv #1 stderr| python3: error: \\x1b]0;title\\x07\n"
            "v #1 stdout| listening\n");
}

TEST(ProgressLineTest, ShowOutputOffATerminalIsOneLinePerOutputLine) {
  Pipe pipe;
  ProgressOptions options;
  options.show_output = true;
  ProgressLine progress(pipe.write_fd(), false, 1, options);
  progress.OnOutput("sh", 0, OutputLine{{}, 1, "hello\r", false});
  progress.Finish();
  EXPECT_EQ(pipe.Drain(), "sh #0 stdout| hello\\x0d\n");
}

TEST(ProgressLineTest, TerminalFinishWithoutRunsWritesNothing) {
  Pipe pipe;
  ProgressLine progress(pipe.write_fd(), true, 3);
  progress.Finish();
  EXPECT_EQ(pipe.Drain(), "");
}

}  // namespace
}  // namespace coder::harness
