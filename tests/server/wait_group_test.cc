#include "server/wait_group.h"

#include <gtest/gtest.h>

#include <thread>

namespace coder::server {
namespace {

using namespace std::chrono_literals;
using Clock = WaitGroup::Clock;

TEST(WaitGroupTest, WaitReturnsAtOnceWhenNothingIsHeld) {
  WaitGroup group;
  EXPECT_TRUE(group.WaitUntil(Clock::now() + 10s).empty());
}

TEST(WaitGroupTest, TimedWaitReturnsTheNamesOfTheSlotsStillHeld) {
  WaitGroup group;
  const auto gateway = group.Add("ai-gateway-rpc#1");
  const auto ws = group.Add("websocket /watch#2");
  group.Done(ws);
  // The wait must end at its deadline, not when the slot is released: nothing releases it here.
  const auto held = group.WaitUntil(Clock::now() + 20ms);
  EXPECT_EQ(held, std::vector<std::string>{"ai-gateway-rpc#1"});
  group.Done(gateway);
}

TEST(WaitGroupTest, ReleaseAfterATimedOutWaitIsSafe) {
  WaitGroup group;
  const auto id = group.Add("late");
  ASSERT_EQ(group.WaitUntil(Clock::now()).size(), 1u);
  group.Done(id);
  group.Done(id);  // twice, and an id never issued: both no-ops
  group.Done(12345);
  EXPECT_EQ(group.size(), 0u);
  EXPECT_TRUE(group.WaitUntil(Clock::now()).empty());
}

TEST(WaitGroupTest, WaitWakesWhenTheLastSlotIsReleasedByAnotherThread) {
  WaitGroup group;
  WaitGroupSlot slot(group, "released elsewhere");
  std::thread releaser([&] { slot.Release(); });
  // A generous deadline: the wait must return because of the release, long before it.
  const auto start = Clock::now();
  EXPECT_TRUE(group.WaitUntil(start + 30s).empty());
  EXPECT_LT(Clock::now() - start, 10s);
  releaser.join();
}

TEST(WaitGroupTest, HeldListsSlotsOldestFirst) {
  WaitGroup group;
  WaitGroupSlot a(group, "first");
  WaitGroupSlot b(group, "second");
  const auto held = group.Held();
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].name, "first");
  EXPECT_EQ(held[1].name, "second");
  EXPECT_LE(held[0].since, held[1].since);
}

TEST(WaitGroupSlotTest, ReleaseIsIdempotentAndTheDestructorReleasesOnce) {
  WaitGroup group;
  {
    WaitGroupSlot slot(group, "x");
    EXPECT_TRUE(slot.held());
    slot.Release();
    slot.Release();
    EXPECT_FALSE(slot.held());
    EXPECT_EQ(group.size(), 0u);
  }
  EXPECT_EQ(group.size(), 0u);
}

TEST(WaitGroupSlotTest, MovingTransfersTheSlot) {
  WaitGroup group;
  WaitGroupSlot outer;
  {
    WaitGroupSlot inner(group, "moved");
    outer = std::move(inner);
  }
  EXPECT_EQ(group.size(), 1u);
  outer.Release();
  EXPECT_EQ(group.size(), 0u);
}

}  // namespace
}  // namespace coder::server
