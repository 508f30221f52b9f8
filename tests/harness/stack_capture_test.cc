#include "harness/measure/stack_capture.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "harness/experiment/run.h"
#include "tests/harness/harness_test_util.h"

namespace coder::harness {
namespace {

using namespace testing;
using ::testing::HasSubstr;

constexpr const char* kReady = "Started HTTP listener";

std::string Path() {
  const char* p = std::getenv("PATH");
  return p != nullptr ? p : "";
}

/// A calibrated target that ignores the stop signal: a hang to take stacks of, ready when returned.
std::unique_ptr<ChildProcess> StartHungTarget() {
  LaunchSpec spec = Calibrated({"--ignore-signals", "--fork-grandchild"});
  spec.allow_ptrace_by_harness = true;
  auto child = StartOrFail(spec);
  if (child &&
      (!child->WaitForLine(Contains(kReady), In(10s)) || !child->WaitForLine(Contains("grandchild"), In(10s)))) {
    ADD_FAILURE() << "the calibrated target did not get ready:\n" << child->Output();
  }
  return child;
}

class StackCaptureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(StackCaptureTest, PrintsEveryThreadOfAHungProcessAndLetsItGo) {
  auto tool = FindStackTool(GetParam(), Path());
  if (!tool) GTEST_SKIP() << tool.error().message << " (scripts/setup installs both)";
  auto child = StartHungTarget();
  ASSERT_TRUE(child);
  ActiveChildren active;
  const auto launched = child->started_at();
  auto stacks = CaptureStacks(*tool, {child->pid()}, launched, {}, active);
  ASSERT_EQ(stacks.size(), 1u);
  EXPECT_EQ(stacks[0].pid, child->pid());
  EXPECT_EQ(stacks[0].tool, GetParam());
  EXPECT_EQ(stacks[0].error, "");
  EXPECT_GT(stacks[0].at_ms, 0);
  // Wherever the target is (in poll(), or still writing its ready line), main() is on its stack, and
  // both tools name each frame's function.
  EXPECT_THAT(stacks[0].text, HasSubstr("main")) << stacks[0].text;
  // Detached again: the target still answers (it logs each ignored signal).
  ASSERT_TRUE(child->Signal(SIGTERM).ok());
  EXPECT_TRUE(child->WaitForLine(Contains("ignoring SIGTERM"), In(10s))) << child->Output();
  EXPECT_FALSE(child->exit_status());
}

INSTANTIATE_TEST_SUITE_P(Tools, StackCaptureTest, ::testing::Values("eu-stack", "gdb"), [](const auto& param_info) {
  return param_info.param == "gdb" ? std::string("Gdb") : "EuStack";
});

TEST(StackCaptureToolTest, AutoPrefersEuStackThenGdb) {
  auto tool = FindStackTool("auto", Path());
  auto eu = FindStackTool("eu-stack", Path());
  auto gdb = FindStackTool("gdb", Path());
  if (!eu && !gdb) GTEST_SKIP() << "neither eu-stack nor gdb is installed (scripts/setup installs both)";
  ASSERT_TRUE(tool);
  EXPECT_EQ(tool->name, eu ? "eu-stack" : "gdb");
}

TEST(StackCaptureToolTest, MissingToolsAreAClearError) {
  auto none = FindStackTool("auto", "/nonexistent");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message,
            "neither eu-stack nor gdb is in PATH: install one (Debian: apt-get install elfutils, or gdb)");
  auto gdb = FindStackTool("gdb", "/nonexistent");
  ASSERT_FALSE(gdb);
  EXPECT_EQ(gdb.error().message, "gdb is not in PATH (Debian: apt-get install gdb)");
  auto unknown = FindStackTool("lldb", Path());
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "unknown stack tool 'lldb': want auto, eu-stack or gdb");
}

TEST(StackCaptureToolTest, AGoneProcessGivesAnErrorNotAHang) {
  auto tool = FindStackTool("auto", Path());
  if (!tool) GTEST_SKIP() << tool.error().message;
  auto child = StartOrFail(Calibrated({"--exit-before-ready", "0"}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->WaitUntil(In(10s)));
  const pid_t gone = child->pid();
  child->Stop();  // reaped: the pid names nothing now
  ActiveChildren active;
  auto stacks = CaptureStacks(*tool, {gone}, Clock::now(), {.timeout = 20s}, active);
  ASSERT_EQ(stacks.size(), 1u);
  EXPECT_THAT(stacks[0].error, HasSubstr(tool->name + " ended with exit")) << stacks[0].text;
}

TEST(StackCaptureToolTest, StacksAreCompleteWhenEveryThreadHasFramesWhateverTheWarnings) {
  const std::string eu =
      "PID 7 - process\nTID 7:\n#0  0x0000000000461043 runtime.futex.abi0\n#1  0x000000000042dfb6 runtime.futexsleep\n"
      "eu-stack: dwfl_thread_getframes tid 7 at 0x52ea5f in /srv/app: no matching address range\n"
      "TID 8:\n#0  0x0000000000461043 runtime.futex.abi0\n";
  EXPECT_TRUE(StacksAreComplete(eu, "eu-stack", 2));
  EXPECT_FALSE(StacksAreComplete(eu, "eu-stack", 3)) << "a thread without its block";
  EXPECT_FALSE(StacksAreComplete("PID 7 - process\nTID 7:\nTID 8:\n#0  0x1 f\n", "eu-stack", 2));
  EXPECT_FALSE(StacksAreComplete("PID 7 - process\nTID 7:\n", "eu-stack", 1));
  EXPECT_FALSE(StacksAreComplete("eu-stack: dwfl_linux_proc_attach pid 7: Operation not permitted\n", "eu-stack", 0));
  const std::string gdb =
      "[New LWP 8]\n\nThread 2 (LWP 8 \"app\"):\n#0  runtime.futex () at sys_linux_amd64.s:560\n\n"
      "Thread 1 (Thread 0x7f00 (LWP 7) \"app\"):\n#0  0x00007f in poll () from libc.so.6\n#1  0x5 in main ()\n";
  EXPECT_TRUE(StacksAreComplete(gdb, "gdb", 2));
  EXPECT_FALSE(StacksAreComplete(gdb, "eu-stack", 2)) << "each tool's own block header";
}

TEST(StackCaptureToolTest, NothingIsCapturedOnceInterrupted) {
  auto tool = FindStackTool("auto", Path());
  if (!tool) GTEST_SKIP() << tool.error().message;
  ActiveChildren active;
  active.StopAll();
  EXPECT_TRUE(CaptureStacks(*tool, {getpid()}, Clock::now(), {}, active).empty());
}

}  // namespace
}  // namespace coder::harness
