#include "common/size.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace coder {
namespace {

uint64_t Parse(std::string_view text) {
  auto r = ParseSize(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : 0;
}

std::string ErrorOf(std::string_view text) {
  auto r = ParseSize(text);
  EXPECT_FALSE(r.ok()) << text << " parsed as " << (r.ok() ? *r : 0);
  return r.ok() ? "" : r.error().message;
}

TEST(ParseSizeTest, AcceptsBinaryUnits) {
  EXPECT_EQ(Parse("17GiB"), 17ull << 30);
  EXPECT_EQ(Parse("17GiB"), 18'253'611'008u);  // the schema's example
  EXPECT_EQ(Parse("512MiB"), 512ull << 20);
  EXPECT_EQ(Parse("100KiB"), 102'400u);
  EXPECT_EQ(Parse("2TiB"), 2ull << 40);
  EXPECT_EQ(Parse("3PiB"), 3ull << 50);
}

TEST(ParseSizeTest, AcceptsDecimalUnits) {
  EXPECT_EQ(Parse("1.5GB"), 1'500'000'000u);
  EXPECT_EQ(Parse("3kB"), 3'000u);
  EXPECT_EQ(Parse("3KB"), 3'000u);
  EXPECT_EQ(Parse("250MB"), 250'000'000u);
  EXPECT_EQ(Parse("4TB"), 4'000'000'000'000u);
  EXPECT_EQ(Parse("5PB"), 5'000'000'000'000'000u);
}

TEST(ParseSizeTest, FractionsAreExactAndRoundToTheNearestByte) {
  EXPECT_EQ(Parse("7.6GiB"), 8'160'437'862u);  // 8160437862.4, the schema's example
  EXPECT_EQ(Parse("0.5KiB"), 512u);
  EXPECT_EQ(Parse("1.0005kB"), 1'001u);                        // 1000.5 rounds half up
  EXPECT_EQ(Parse("0.1MiB"), 104'858u);                        // 104857.6
  EXPECT_EQ(Parse("1.000000000000000000001TiB"), 1ull << 40);  // digits past 18 are below a byte
}

TEST(ParseSizeTest, AcceptsPlainBytes) {
  EXPECT_EQ(Parse("123"), 123u);
  EXPECT_EQ(Parse("123B"), 123u);
  EXPECT_EQ(Parse("0"), 0u);
  EXPECT_EQ(Parse("0GiB"), 0u);
  EXPECT_EQ(Parse("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(Parse("2.0B"), 2u);
}

TEST(ParseSizeTest, ErrorsNameTheTextAndGiveExamples) {
  const std::string message = ErrorOf("7.6 GiB");
  EXPECT_NE(message.find("\"7.6 GiB\""), std::string::npos) << message;
  EXPECT_NE(message.find("17GiB"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown unit"), std::string::npos) << message;
  EXPECT_NE(ErrorOf("").find("empty"), std::string::npos);
  EXPECT_NE(ErrorOf("-1GiB").find("negative"), std::string::npos);
  EXPECT_NE(ErrorOf("GiB").find("expected a number"), std::string::npos);
  EXPECT_NE(ErrorOf("1.GiB").find("after '.'"), std::string::npos);
  EXPECT_NE(ErrorOf("1.5").find("whole"), std::string::npos);
  EXPECT_NE(ErrorOf("1.5B").find("whole"), std::string::npos);
  EXPECT_NE(ErrorOf("12gib").find("unknown unit \"gib\""), std::string::npos);
  ErrorOf("1GiBx");
  ErrorOf("1e9");
  ErrorOf("+1GiB");
  ErrorOf(".5GiB");
}

// Found by fuzz/size: digits past the 18th were dropped before the whole-bytes check.
TEST(ParseSizeTest, APlainByteCountWithAFractionBeyondTheEighteenthDigitIsStillNotWhole) {
  EXPECT_NE(ErrorOf("1.000000000000000000000001").find("must be whole"), std::string::npos);
  EXPECT_NE(ErrorOf("1.000000000000000000000001B").find("must be whole"), std::string::npos);
  EXPECT_EQ(Parse("1.000000000000000000000000B"), 1u);
}

TEST(ParseSizeTest, OverflowIsAnError) {
  EXPECT_NE(ErrorOf("18446744073709551616").find("too large"), std::string::npos);
  EXPECT_NE(ErrorOf("16777216TiB").find("too large"), std::string::npos);  // 2^24 × 2^40 = 2^64
  EXPECT_NE(ErrorOf("16384PiB").find("too large"), std::string::npos);     // 2^14 × 2^50 = 2^64
  EXPECT_EQ(Parse("16777215.999999TiB"), 18'446'744'073'708'452'104u);
  EXPECT_NE(ErrorOf("16777215.9999999999999TiB").find("too large"), std::string::npos);  // rounds up to 2^64
  EXPECT_NE(ErrorOf("99999999999999999999999GB").find("too large"), std::string::npos);
}

}  // namespace
}  // namespace coder
