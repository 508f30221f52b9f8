#include "harness/process/event_loop.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <future>
#include <thread>
#include <vector>

namespace coder::harness {
namespace {

TEST(EventLoopTest, RunsPostedTasksInOrderOnItsOwnThread) {
  EventLoop loop;
  std::vector<int> order;
  std::vector<bool> on_loop;
  for (int i = 0; i < 100; ++i)
    loop.Post([&, i] {
      order.push_back(i);
      on_loop.push_back(loop.InLoopThread());
    });
  loop.RunAndWait([] {});
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
  for (bool b : on_loop) EXPECT_TRUE(b);
  EXPECT_FALSE(loop.InLoopThread());
}

TEST(EventLoopTest, RunAndWaitFromTheLoopThreadRunsAtOnceInsteadOfDeadlocking) {
  EventLoop loop;
  bool inner_ran = false;
  loop.RunAndWait([&] { loop.RunAndWait([&] { inner_ran = true; }); });
  EXPECT_TRUE(inner_ran);
}

TEST(EventLoopTest, ItsThreadBlocksEverySignal) {
  EventLoop loop;
  sigset_t mask;
  sigemptyset(&mask);
  loop.RunAndWait([&] { pthread_sigmask(SIG_BLOCK, nullptr, &mask); });
  for (int sig : {SIGTERM, SIGINT, SIGCHLD, SIGPIPE, SIGQUIT, SIGHUP}) EXPECT_EQ(sigismember(&mask, sig), 1) << sig;
  // The caller's own mask is left as it was.
  sigset_t own;
  pthread_sigmask(SIG_BLOCK, nullptr, &own);
  EXPECT_EQ(sigismember(&own, SIGHUP), 0);
}

TEST(EventLoopTest, CloseRunsWhatWasQueuedAndIsSafeTwice) {
  EventLoop loop;
  std::promise<void> gate;
  auto opened = gate.get_future().share();
  int ran = 0;
  loop.Post([opened] { opened.wait(); });
  for (int i = 0; i < 10; ++i) loop.Post([&] { ++ran; });
  gate.set_value();
  loop.Close();
  EXPECT_EQ(ran, 10);
  loop.Close();
  EXPECT_EQ(ran, 10);
  // After Close nothing runs on the loop: RunAndWait runs on the caller's thread.
  bool ran_after = false;
  loop.RunAndWait([&] { ran_after = true; });
  EXPECT_TRUE(ran_after);
}

TEST(EventLoopTest, SharedIsOneLoop) {
  EXPECT_EQ(&EventLoop::Shared(), &EventLoop::Shared());
  std::thread::id id;
  EventLoop::Shared().RunAndWait([&] { id = std::this_thread::get_id(); });
  EXPECT_NE(id, std::this_thread::get_id());
}

}  // namespace
}  // namespace coder::harness
