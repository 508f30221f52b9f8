#include "server/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace coder::server {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;

size_t Newlines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

// Found by fuzz/shutdown_log: a value with a newline and no blank was written bare, splitting the line.
TEST(LoggerTest, HumanValuesWithControlBytesAreQuotedSoACallIsOneLine) {
  const Logger log(LogFormat::kHuman, -1);
  const std::string line = log.Format(LogLevel::kWarn, "m", {{"in_flight", "GET /a\nforged=1"}, {"x", "a\rb\x01"}});
  EXPECT_EQ(Newlines(line), 1u) << line;
  EXPECT_THAT(line, HasSubstr(R"(in_flight="GET /a\nforged=1")"));
  EXPECT_THAT(line, HasSubstr(R"(x="a\rb\u0001")"));
  EXPECT_THAT(line, EndsWith("\n"));
}

TEST(LoggerTest, PlainValuesStayBareAndInvalidUtf8IsReplacedNotThrown) {
  const Logger human(LogFormat::kHuman, -1);
  EXPECT_THAT(human.Format(LogLevel::kInfo, "m", {{"step", "api-drain"}}), HasSubstr(" step=api-drain\n"));
  std::string line;
  EXPECT_NO_THROW(line = human.Format(LogLevel::kInfo, "m", {{"held", "a \xff"}}));
  EXPECT_THAT(line, HasSubstr("held=\"a \xEF\xBF\xBD\""));
  const Logger json(LogFormat::kJson, -1);
  EXPECT_NO_THROW(line = json.Format(LogLevel::kInfo, "m", {{"held", "\xff\n"}}));
  EXPECT_EQ(Newlines(line), 1u) << line;
}

}  // namespace
}  // namespace coder::server
