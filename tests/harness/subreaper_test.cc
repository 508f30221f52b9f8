#include "harness/process/subreaper.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "harness/process/child_process.h"
#include "harness/process/keeper.h"
#include "harness/process/proc_fs.h"
#include "tests/harness/harness_test_util.h"

namespace coder::harness {
namespace {

using namespace testing;

TEST(ChildProcessSubreaperTest, ParsesProcStatWhateverTheCommandName) {
  auto st = ParseProcStat("42 (a) b (c)) Z 7 9 9 0 -1");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->pid, 42);
  EXPECT_EQ(st->state, 'Z');
  EXPECT_EQ(st->ppid, 7);
  EXPECT_EQ(st->pgrp, 9);
  EXPECT_TRUE(st->dead());
  EXPECT_FALSE(ParseProcStat("garbage"));
  EXPECT_EQ(ParsePidList("12 34\n5 "), (std::vector<pid_t>{12, 34, 5}));
}

TEST(ChildProcessSubreaperTest, AdoptsAndReapsAnOrphanedGrandchild) {
  ASSERT_TRUE(BecomeChildSubreaper().ok());
  EXPECT_TRUE(IsChildSubreaper());
  ReapOrphans();  // leftovers of earlier tests in this process (gtest_repeat, a whole-binary run)
  auto child = StartOrFail(Calibrated({"--fork-grandchild"}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->WaitForLine(Contains("grandchild"), In(5s)));
  pid_t grandchild = GrandchildPid(*child);
  ASSERT_GT(grandchild, 0);

  ASSERT_TRUE(child->Signal(SIGKILL).ok());  // the child only
  auto status = child->WaitUntil(In(5s));
  ASSERT_TRUE(status);
  EXPECT_EQ(status->Describe(), "killed by SIGKILL");
  ASSERT_TRUE(Eventually(
      [&] {
        auto st = ReadProcStat(grandchild);
        return st && st->ppid == getpid();
      },
      In(5s)))
      << "grandchild " << grandchild << " ppid " << (ReadProcStat(grandchild) ? ReadProcStat(grandchild)->ppid : -1)
      << " state " << (ReadProcStat(grandchild) ? ReadProcStat(grandchild)->state : '?') << " we are " << getpid();
  EXPECT_EQ(LiveDescendants(child->pgid()), std::vector<pid_t>{grandchild});

  ASSERT_EQ(kill(grandchild, SIGKILL), 0);
  ASSERT_TRUE(Eventually(
      [&] {
        auto st = ReadProcStat(grandchild);
        return st && st->dead();
      },
      In(5s)));
  EXPECT_TRUE(LiveDescendants(child->pgid()).empty());  // a zombie counts as dead
  EXPECT_EQ(ReapOrphans(), 1);                          // the grandchild, not the owned child (a zombie until Stop)
  EXPECT_FALSE(ReadProcStat(grandchild));
  ASSERT_TRUE(ReadProcStat(child->pid()));  // the owned zombie is left for its ChildProcess
  child->Stop();
  EXPECT_FALSE(ReadProcStat(child->pid()));
  EXPECT_EQ(child->exit_status()->Describe(), "killed by SIGKILL");
}

TEST(ChildProcessSubreaperTest, LiveDescendantsFindsAMemberOrphanedWhileItsLeaderLives) {
  // Both processes block until they are killed (tail -f of a file that never grows). The leader's tree
  // no longer holds the orphan; only its group id and its new parent (us) tie it to
  // the run, so the walk of the tree must not be the whole answer.
  ASSERT_TRUE(BecomeChildSubreaper().ok());
  ReapOrphans();
  LaunchSpec spec;
  spec.argv = {"/bin/sh", "-c", "sh -c 'tail -f /dev/null & echo orphan $!'; exec tail -f /dev/null"};
  auto child = StartOrFail(spec);
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->WaitForLine(Contains("orphan "), In(5s)));
  pid_t orphan = 0;
  for (const auto& line : child->Lines())
    if (line.text.rfind("orphan ", 0) == 0) orphan = std::stoi(line.text.substr(7));
  ASSERT_GT(orphan, 0);
  ASSERT_TRUE(Eventually(
      [&] {
        auto st = ReadProcStat(orphan);
        return st && st->ppid == getpid();
      },
      In(5s)));
  const auto live = LiveDescendants(child->pgid());
  EXPECT_NE(std::find(live.begin(), live.end(), child->pid()), live.end());
  EXPECT_NE(std::find(live.begin(), live.end(), orphan), live.end());
  child->Stop();
  EXPECT_TRUE(LiveDescendants(child->pgid()).empty());
}

TEST(ChildProcessSubreaperTest, LiveDescendantsOfATreeWithNoOrphanIsTheTree) {
  ASSERT_TRUE(BecomeChildSubreaper().ok());
  ReapOrphans();
  auto child = StartOrFail(Calibrated({"--fork-grandchild"}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->WaitForLine(Contains("grandchild"), In(5s)));
  const pid_t grandchild = GrandchildPid(*child);
  auto expected = std::vector<pid_t>{child->pid(), grandchild};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(LiveDescendants(child->pgid()), expected);
  child->Stop();
  EXPECT_TRUE(LiveDescendants(child->pgid()).empty());
}

TEST(ChildProcessSubreaperTest, StopLeavesNeitherLiveProcessesNorZombies) {
  ASSERT_TRUE(BecomeChildSubreaper().ok());
  auto child = StartOrFail(Calibrated({"--fork-grandchild"}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->WaitForLine(Contains("grandchild"), In(5s)));
  pid_t grandchild = GrandchildPid(*child);
  ASSERT_GT(grandchild, 0);
  child->Stop();
  EXPECT_TRUE(LiveDescendants(child->pgid()).empty());
  auto ours = ReadChildren(getpid());
  EXPECT_EQ(std::count(ours.begin(), ours.end(), grandchild), 0);
  EXPECT_EQ(std::count(ours.begin(), ours.end(), child->pid()), 0);
}

TEST(ChildProcessSubreaperTest, ReapOrphansNeverStealsAnOwnedExitStatus) {
  std::atomic<bool> done{false};
  std::thread reaper([&] {
    while (!done.load()) ReapOrphans();
  });
  for (int i = 0; i < 20; ++i) {
    auto child = StartOrFail(Calibrated({"--exit-before-ready", std::to_string(i + 1)}));
    ASSERT_TRUE(child);
    auto status = child->WaitUntil(In(5s));
    ASSERT_TRUE(status);
    EXPECT_EQ(status->Describe(), "exit " + std::to_string(i + 1));
  }
  done = true;
  reaper.join();
}

TEST(ChildProcessSubreaperTest, OwnChildrenListsLiveAndZombieChildrenAndIsEmptyWithoutAny) {
  ReapOrphans();
  const auto before = OwnChildren();
  auto child = StartOrFail(Calibrated({"--exit-before-ready", "3"}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->WaitUntil(In(5s)));
  // Exited, not yet reaped: a zombie is still a child, and one the fast path must not miss.
  auto ours = OwnChildren();
  EXPECT_EQ(std::count(ours.begin(), ours.end(), child->pid()), 1);
  child->Stop();
  ours = OwnChildren();
  EXPECT_EQ(std::count(ours.begin(), ours.end(), child->pid()), 0);
  EXPECT_EQ(ours, before);
  if (before.empty()) {
    EXPECT_TRUE(ReadChildren(getpid()).empty());
  }
}

TEST(ChildProcessSubreaperTest, TheKeeperIsNotAChildOfTheHarness) {
  // A keeper that were a child would keep OwnChildren off its one-call path for the whole experiment.
  // A subreaper adopts it (the harness becomes one only after Start); earlier tests of this binary may
  // have made this process one, which ctest's process per test does not.
  if (IsChildSubreaper()) GTEST_SKIP() << "this process is already a child subreaper";
  auto keeper = Keeper::Start(NewExperimentMarker());
  ASSERT_TRUE(keeper) << keeper.error().message;
  const pid_t pid = (*keeper)->pid();
  auto st = ReadProcStat(pid);
  ASSERT_TRUE(st);
  EXPECT_NE(st->ppid, getpid());
  auto ours = OwnChildren();
  EXPECT_EQ(std::count(ours.begin(), ours.end(), pid), 0);
  (*keeper)->Release();
  // Release waits until the keeper has swept and exited.
  auto after = ReadProcStat(pid);
  EXPECT_TRUE(!after || after->dead());
  (*keeper)->Release();  // idempotent
}

}  // namespace
}  // namespace coder::harness
