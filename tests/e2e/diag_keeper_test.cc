// Nothing a run started outlives it: not a daemon that left the target's group and session, not when
// runs overlap, not when the harness itself is SIGKILLed (the keeper sweeps what carries its marker).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "harness/process/proc_fs.h"
#include "tests/e2e/coder_server.h"
#include "tests/e2e/process_scan.h"
#include "tests/harness/harness_test_util.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;

std::string Tag(const std::string& what) { return what + "-" + std::to_string(std::random_device{}()); }

/// Calibrated targets with `tag` in a session other than ours: the daemons the targets started (the
/// keeper has a session of its own too, but it is the coder binary).
size_t Daemons(const std::string& tag) {
  const auto pids = ProcessesWith(tag);
  return static_cast<size_t>(std::count_if(pids.begin(), pids.end(), [](pid_t p) {
    auto st = harness::ReadProcStat(p);
    auto cmdline = harness::ReadSmallFile("/proc/" + std::to_string(p) + "/cmdline");
    return st && cmdline && st->session != ::getsid(0) && cmdline->rfind(CALIBRATED_TARGET_PATH, 0) == 0;
  }));
}

// 61 orphans under pid 1 after a SIGKILL of the harness, 30 of which never left the target's group.
TEST(DiagKeeperTest, NothingOfAnyRunSurvivesASigkilledHarness) {
  const std::string tag = Tag("keeper");
  auto diag = LaunchCoder({"diag", "shutdown", "--runs", "4", "--parallel", "2", "--hold", "30s", "--ready-log",
                           "Started HTTP listener at ", "--", CALIBRATED_TARGET_PATH, "--fork-grandchild",
                           "--daemon-grandchild", "--tag", tag});
  ASSERT_TRUE(diag);
  // Two targets, each with a grandchild in its group and a daemon outside it, all held after ready.
  // The harness and its keeper, two targets, their grandchildren and their daemons.
  ASSERT_TRUE(
      harness::testing::Eventually([&] { return Daemons(tag) >= 2 && ProcessesWith(tag).size() >= 8; }, In(30s)))
      << diag->Output() << ProcessesWith(tag).size() << " processes, " << Daemons(tag) << " daemons";
  ASSERT_TRUE(diag->Signal(SIGKILL).ok());
  ASSERT_TRUE(diag->WaitUntil(In(10s)));
  EXPECT_TRUE(harness::testing::Eventually([&] { return ProcessesWith(tag).empty(); }, In(20s)))
      << ProcessesWith(tag).size() << " processes of the runs outlived the harness";
}

// 785 daemons after 8 runs with --parallel 3: the orphans of a run were killed only when no run was in
// progress, which overlapping runs never allow.
TEST(DiagKeeperTest, WhatARunLeftOutsideItsGroupIsKilledWhenThatRunEnds) {
  const std::string tag = Tag("daemons");
  auto diag =
      LaunchCoder({"diag", "shutdown", "--runs", "12", "--parallel", "3", "--hold", "150ms", "--ready-log",
                   "Started HTTP listener at ", "--", CALIBRATED_TARGET_PATH, "--daemon-grandchild", "--tag", tag});
  ASSERT_TRUE(diag);
  size_t most = 0;
  // Sampling while the experiment runs; each pause is a wait for the harness's exit.
  while (!diag->WaitUntil(In(5ms))) most = std::max(most, Daemons(tag));
  // Each daemon outlived its target: a finding, and the harness killed it.
  EXPECT_EQ(diag->exit_status()->Describe(), "exit 1") << diag->Output();
  EXPECT_THAT(diag->Output(), ::testing::HasSubstr("left-processes"));
  // One daemon per live run, and a moment for each to be killed: never the dozen of all runs.
  EXPECT_LE(most, 6u);
  EXPECT_GE(most, 1u) << "the sampling never saw a daemon: the test tested nothing";
  EXPECT_TRUE(ProcessesWith(tag).empty());
}

}  // namespace
}  // namespace coder::e2e
