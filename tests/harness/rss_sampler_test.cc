#include "harness/measure/rss_sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <iostream>

#include "harness/process/child_process.h"
#include "tests/harness/harness_test_util.h"

namespace coder::harness {
namespace {

using namespace testing;

constexpr uint64_t kMiB = 1 << 20;

bool HasSample(const RssSampler& sampler, pid_t pid, uint64_t min_bytes, int processes) {
  auto timeline = sampler.Timeline(pid);
  return std::any_of(timeline.begin(), timeline.end(),
                     [&](const RssSample& s) { return s.tree_rss_bytes >= min_bytes && s.process_count == processes; });
}

TEST(RssSamplerTest, SeesHeldMemoryOfAChildAndItsGrandchild) {
  auto child = StartOrFail(Calibrated({"--hold-mib", "64", "--fork-grandchild", "--grandchild-hold-mib", "32"}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->WaitForLine(Contains("Started HTTP listener"), In(10s)));
  ASSERT_TRUE(child->WaitForLine(Contains("grandchild"), In(10s)));
  RssSampler sampler;
  ASSERT_TRUE(sampler.Add(child->pid()).ok());
  sampler.Start();
  EXPECT_TRUE(Eventually([&] { return HasSample(sampler, child->pid(), 96 * kMiB, 2); }, In(5s)));
  auto timeline = sampler.Timeline(child->pid());
  ASSERT_FALSE(timeline.empty());
  // Held memory plus two small baselines: well under 96 MiB + 2 x 16 MiB.
  EXPECT_LT(timeline.back().tree_rss_bytes, 128 * kMiB);
}

TEST(RssSamplerTest, FollowsTheGrandchildAfterTheChildDiesAndEndsWithTheGroup) {
  auto child = StartOrFail(Calibrated({"--hold-mib", "16", "--fork-grandchild", "--grandchild-hold-mib", "32"}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->WaitForLine(Contains("grandchild"), In(10s)));
  ASSERT_TRUE(child->WaitForLine(Contains("Started HTTP listener"), In(10s)));
  RssSampler sampler({.interval = std::chrono::milliseconds(2)});
  ASSERT_TRUE(sampler.Add(child->pid()).ok());
  sampler.Start();
  ASSERT_TRUE(Eventually([&] { return HasSample(sampler, child->pid(), 48 * kMiB, 2); }, In(5s)));

  ASSERT_TRUE(child->Signal(SIGKILL).ok());  // the child only: its grandchild is orphaned
  ASSERT_TRUE(child->WaitUntil(In(5s)));
  ASSERT_TRUE(Eventually(
      [&] {
        auto t = sampler.Timeline(child->pid());
        return !t.empty() && t.back().process_count == 1 && t.back().tree_rss_bytes >= 32 * kMiB;
      },
      In(5s)));
  EXPECT_FALSE(sampler.Ended(child->pid()));

  child->Stop();  // SIGKILLs the rest of the group
  ASSERT_TRUE(Eventually([&] { return sampler.Ended(child->pid()); }, In(5s)));
  auto timeline = sampler.Timeline(child->pid());
  EXPECT_EQ(timeline.back().process_count, 0);
  EXPECT_EQ(timeline.back().tree_rss_bytes, 0u);
}

TEST(RssSamplerTest, BoundsSamplesPerTargetAndKeepsThePeak) {
  auto child = StartOrFail(Calibrated({"--hold-mib", "32", "--exit-after-ms", "0"}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->WaitForLine(Contains("Started HTTP listener"), In(10s)));
  RssSampler sampler({.interval = std::chrono::milliseconds(1), .max_samples_per_target = 16});
  ASSERT_TRUE(sampler.Add(child->pid()).ok());
  sampler.Start();
  // 16 samples fill up in ~16 ms; wait until decimation has run several times.
  ASSERT_TRUE(Eventually([&] { return sampler.Timeline(child->pid()).size() >= 8; }, In(5s)));
  auto first = sampler.Timeline(child->pid()).front().at;
  ASSERT_TRUE(Eventually([&] { return sampler.Timeline(child->pid()).back().at - first >= 200ms; }, In(5s)));
  auto timeline = sampler.Timeline(child->pid());
  EXPECT_LE(timeline.size(), 17u);  // the cap plus the stride being filled
  uint64_t peak = 0;
  for (const auto& s : timeline) peak = std::max(peak, s.tree_rss_bytes);
  EXPECT_GE(peak, 32 * kMiB);
}

TEST(RssSamplerTest, StopAndRemoveAreIdempotent) {
  auto child = StartOrFail(Calibrated({}));
  ASSERT_TRUE(child);
  RssSampler sampler({.interval = std::chrono::milliseconds(1)});
  sampler.Stop();  // before Start
  ASSERT_TRUE(sampler.Add(child->pid()).ok());
  ASSERT_TRUE(sampler.Add(child->pid()).ok());
  sampler.Start();
  sampler.Start();
  ASSERT_TRUE(Eventually([&] { return !sampler.Timeline(child->pid()).empty(); }, In(5s)));
  sampler.Stop();
  sampler.Stop();
  auto removed = sampler.Remove(child->pid());
  EXPECT_FALSE(removed.empty());
  EXPECT_TRUE(sampler.Remove(child->pid()).empty());
  EXPECT_TRUE(sampler.Timeline(child->pid()).empty());
  EXPECT_TRUE(sampler.Remove(999999999).empty());
  sampler.Start();  // restartable
  sampler.Stop();
}

TEST(RssSamplerTest, AddingAMissingProcessIsAnError) {
  RssSampler sampler;
  auto st = sampler.Add(999999999);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "cannot sample process 999999999: not running");
}

// The 2% budget of one core is BM_RssSampling's (bench/rss_sampler_bench.cc): a CPU-share assertion here
// failed CI at 5.7% on a loaded runner. The test keeps what does not depend on the machine's load: every
// target gets its samples, and the sampler accounts its own CPU time, far below the wall time it sampled.
TEST(RssSamplerTest, SamplesEightTargetsAt100HzAndAccountsItsOwnCpuTime) {
  std::vector<std::unique_ptr<ChildProcess>> children;
  RssSampler sampler;  // the default 10 ms interval
  for (int i = 0; i < 8; ++i) {
    children.push_back(StartOrFail(Calibrated({"--hold-mib", "8"})));
    ASSERT_TRUE(children.back());
  }
  for (auto& c : children) {
    ASSERT_TRUE(c->WaitForLine(Contains("Started HTTP listener"), In(10s)));
    ASSERT_TRUE(sampler.Add(c->pid()).ok());
  }
  auto started = Clock::now();
  sampler.Start();
  ASSERT_TRUE(Eventually(
      [&] {
        return std::all_of(children.begin(), children.end(),
                           [&](const auto& c) { return sampler.Timeline(c->pid()).size() >= 100; });
      },
      In(20s)));
  sampler.Stop();
  double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
  double cpu = std::chrono::duration<double>(sampler.cpu_time()).count();
  EXPECT_GT(cpu, 0.0);
  // Half a core is ten times the 5.7% a loaded runner measured: only a sampler that spins fails this.
  EXPECT_LT(cpu / elapsed, 0.5);
}

}  // namespace
}  // namespace coder::harness
