#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness/report.h"

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

TEST(ProgressLineTest, TerminalRewritesOneStatusLineInPlaceAndFinishEndsItOnce) {
  Pipe pipe;  // not a tty: the width falls back to 80 columns
  ProgressLine progress(pipe.write_fd(), true, 3);
  progress.RunFinished(Record("gateway=on order=patched", 0, Outcome::kClean, 1.2, 1 << 20));
  progress.RunFinished(Record("gateway=on order=unpatched", 0, Outcome::kTimeoutFingerprint, 10'004, 1 << 20));
  progress.Finish();
  progress.Finish();
  // The second line is cut to 79 columns, one short of the fallback width.
  EXPECT_EQ(pipe.Drain(),
            "\r\x1b[K[1/3] 1 clean | last gateway=on order=patched #0: clean in 1.20ms"
            "\r\x1b[K[2/3] 1 timeout-fingerprint, 1 clean | last gateway=on order=unpatched #0: time"
            "\n");
}

TEST(ProgressLineTest, TerminalFinishWithoutRunsWritesNothing) {
  Pipe pipe;
  ProgressLine progress(pipe.write_fd(), true, 3);
  progress.Finish();
  EXPECT_EQ(pipe.Drain(), "");
}

}  // namespace
}  // namespace coder::harness
