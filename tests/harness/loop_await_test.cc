#include "harness/process/loop_await.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <filesystem>
#include <fstream>
#include <future>
#include <stdexcept>
#include <thread>

#include "harness/process/event_loop.h"
#include "harness/process/proc_fs.h"
#include "tests/harness/harness_test_util.h"
#include "tests/support/temp_dir.h"

namespace coder::harness {
namespace {

using namespace testing;
namespace net = boost::asio;

constexpr const char* kReady = "Started HTTP listener at ";

/// Runs `body` as a coroutine on the shared loop and returns its future.
template <class R>
std::future<R> OnLoop(std::function<net::awaitable<R>()> body) {
  return net::co_spawn(EventLoop::Shared().context(), body(), net::use_future);
}

TEST(LoopAwaitTest, AWaitWhoseCheckAlreadyHoldsEndsAtOnceNotAtItsDeadline) {
  auto child = StartOrFail(Calibrated({"--exit-before-ready", "0"}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->WaitUntil(In(5s)));
  // A minute's deadline: a wait that missed the check holding at its start would end only then.
  auto done = OnLoop<bool>([&]() -> net::awaitable<bool> {
    co_await WaitOn(
        *child, [&](const OutputLine*) { return child->exit_status().has_value(); }, In(60s));
    co_return child->exit_status().has_value();
  });
  ASSERT_EQ(done.wait_for(20s), std::future_status::ready);
  EXPECT_TRUE(done.get());
}

TEST(LoopAwaitTest, AWaitEndsWithTheLineThatSatisfiesItAndTheCheckSeesThatLine) {
  // The line is printed only once the wait is in place (its first check opens the gate): a line read
  // before the wait began is no line the check is shown, and the calibrated target's ready line, at
  // once, was sometimes read first under load.
  test_support::TempDir dir;
  const auto gate = dir.path() / "gate";
  ASSERT_EQ(::mkfifo(gate.c_str(), 0600), 0);
  LaunchSpec spec;
  // `cat` returns once the FIFO has had a writer and that writer has closed it.
  spec.argv = {"/bin/sh", "-c", "cat \"$1\" >/dev/null; echo ready now", "sh", gate.string()};
  auto child = StartOrFail(spec);
  ASSERT_TRUE(child);
  auto seen = OnLoop<std::string>([&]() -> net::awaitable<std::string> {
    std::string text;
    bool gated = false;
    co_await WaitOn(
        *child,
        [&](const OutputLine* line) {
          // Opening for writing waits for cat's open for reading, a moment after the launch.
          if (line == nullptr && !gated) gated = std::ofstream(gate).put('\n').good();
          if (line != nullptr && line->text == "ready now") text = line->text;
          return !text.empty();
        },
        In(60s));
    co_return text;
  });
  ASSERT_EQ(seen.wait_for(20s), std::future_status::ready);
  EXPECT_EQ(seen.get(), "ready now");
  child->Stop();
}

TEST(LoopAwaitTest, AWaitThatNeverHoldsEndsAtItsDeadline) {
  auto child = StartOrFail(Calibrated({}));
  ASSERT_TRUE(child);
  const auto deadline = In(100ms);
  auto ended = OnLoop<Clock::time_point>([&]() -> net::awaitable<Clock::time_point> {
    co_await WaitOn(
        *child, [](const OutputLine*) { return false; }, deadline);
    co_return Clock::now();
  });
  ASSERT_EQ(ended.wait_for(20s), std::future_status::ready);
  EXPECT_GE(ended.get(), deadline);
  child->Stop();
}

TEST(LoopAwaitTest, StoppingTheChildEndsItsWaits) {
  auto child = StartOrFail(Calibrated({}));
  ASSERT_TRUE(child);
  auto ended = OnLoop<bool>([&]() -> net::awaitable<bool> {
    co_await WaitOn(
        *child, [](const OutputLine*) { return false; }, In(60s));
    co_return true;
  });
  child->Stop();
  ASSERT_EQ(ended.wait_for(20s), std::future_status::ready);
  EXPECT_TRUE(ended.get());
}

TEST(LoopAwaitTest, OffLoopRunsOnAnotherThreadAndResumesOnTheLoopWithItsResultOrException) {
  auto result = OnLoop<bool>([]() -> net::awaitable<bool> {
    const auto loop_thread = std::this_thread::get_id();
    const auto where = co_await OffLoop([] { return std::this_thread::get_id(); });
    const bool back_on_loop = EventLoop::Shared().InLoopThread();
    bool threw = false;
    try {
      co_await OffLoop([] { throw std::runtime_error("from the helper thread"); });
    } catch (const std::runtime_error& e) {
      threw = std::string(e.what()) == "from the helper thread";
    }
    co_return where != loop_thread&& back_on_loop&& threw;
  });
  ASSERT_EQ(result.wait_for(20s), std::future_status::ready);
  EXPECT_TRUE(result.get());
}

TEST(LoopAwaitTest, TryStopAtOnceRefusesALiveChildAndStopsAnExitedOneOnce) {
  auto child = StartOrFail(Calibrated({}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->WaitForLine(Contains(kReady), In(10s)));
  EXPECT_FALSE(child->TryStopAtOnce());  // Stop() would have to signal it and wait
  ASSERT_TRUE(child->Signal(SIGTERM).ok());
  ASSERT_TRUE(child->WaitUntil(In(10s)));
  ASSERT_TRUE(Eventually([&] { return child->output_ended(); }, In(10s)));
  EXPECT_TRUE(child->TryStopAtOnce());
  EXPECT_FALSE(ReadProcStat(child->pid()));  // reaped
  EXPECT_TRUE(child->TryStopAtOnce());       // and stopped for good
  child->Stop();                             // a no-op now
  EXPECT_EQ(child->exit_status()->Describe(), "exit 0");
}

TEST(LoopAwaitTest, StopChildOnTheLoopStopsALiveChildWithoutHoldingTheLoop) {
  auto child = StartOrFail(Calibrated({}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->WaitForLine(Contains(kReady), In(10s)));
  // Stop() waits for the exit the loop delivers: on the loop itself it could only time out.
  auto stopped = OnLoop<bool>([&]() -> net::awaitable<bool> {
    co_await StopChild(*child);
    co_return child->exit_status().has_value();
  });
  ASSERT_EQ(stopped.wait_for(20s), std::future_status::ready);
  EXPECT_TRUE(stopped.get());
  EXPECT_FALSE(ReadProcStat(child->pid()));
}

}  // namespace
}  // namespace coder::harness
