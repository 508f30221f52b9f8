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

// Found by fuzz/duration: "+" parsed as zero, 400 digits threw std::out_of_range out of std::stod, and
// 2^63 ns passed the range check and came back negative.
TEST(ParseDurationTest, RejectsWhatFuzzingFoundWithoutThrowing) {
  for (const std::string& bad : {std::string("+"), std::string(400, '9') + "s", std::string("9223372036854775808ns"),
                                 std::string("9223372036.854775808s")}) {
    bool threw = false;
    auto r = [&]() -> Result<Duration> {
      try {
        return ParseDuration(bad);
      } catch (...) {
        threw = true;
        return Error{"threw"};
      }
    }();
    ASSERT_FALSE(threw) << bad;
    ASSERT_FALSE(r.ok()) << bad << " parsed as " << r->count();
    EXPECT_NE(r.error().message.find("invalid duration"), std::string::npos) << r.error().message;
  }
  EXPECT_NE(ParseDuration(std::string(400, '9') + "s").error().message.find("too large"), std::string::npos);
  // Far below a nanosecond underflows to zero rather than being called too large.
  EXPECT_EQ(*ParseDuration("0." + std::string(400, '0') + "1s"), Duration::zero());
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
