#include "common/duration.h"

#include <gtest/gtest.h>

namespace coder {
namespace {

using namespace std::chrono_literals;

TEST(ParseDurationTest, AcceptsGoStyleDurations) {
  EXPECT_EQ(*ParseDuration("10s"), Duration(10s));
  EXPECT_EQ(*ParseDuration("250ms"), Duration(250ms));
  EXPECT_EQ(*ParseDuration("1m30s"), Duration(90s));
  EXPECT_EQ(*ParseDuration("1.5s"), Duration(1500ms));
  EXPECT_EQ(*ParseDuration("100us"), Duration(100us));
  EXPECT_EQ(*ParseDuration("100\xC2\xB5s"), Duration(100us));
  EXPECT_EQ(*ParseDuration("2h"), Duration(2h));
  EXPECT_EQ(*ParseDuration("7ns"), Duration(7ns));
  EXPECT_EQ(*ParseDuration("0"), Duration::zero());
}

TEST(ParseDurationTest, RejectsMalformedInputWithAClearMessage) {
  for (const char* bad : {"", "10", "s", "-1s", "10x", "1..5s", "ten seconds", "1e3s", "99999999999h"}) {
    auto r = ParseDuration(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("invalid duration"), std::string::npos) << r.error().message;
  }
}

TEST(FormatDurationTest, KeepsThreeSignificantDigitsInTheFittingUnit) {
  EXPECT_EQ(FormatDuration(999ns), "999ns");
  EXPECT_EQ(FormatDuration(850us), "850\xC2\xB5s");
  EXPECT_EQ(FormatDuration(1230us), "1.23ms");
  EXPECT_EQ(FormatDuration(12345us), "12.3ms");
  EXPECT_EQ(FormatDuration(10004ms), "10.004s");
}

TEST(FormatDurationTest, RoundTripsThroughParseDuration) {
  for (Duration d : {Duration(1500us), Duration(10s), Duration(42ms)}) {
    auto back = ParseDuration(FormatDuration(d));
    ASSERT_TRUE(back.ok()) << FormatDuration(d);
    EXPECT_NEAR(ToSeconds(*back), ToSeconds(d), ToSeconds(d) * 0.01);
  }
}

}  // namespace
}  // namespace coder
