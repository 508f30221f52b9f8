// The server's own security defaults: loopback unless told otherwise, session tokens that are long,
// random-looking and unique, and a token comparison that answers exactly like equality (its constant time
// is a property of its code, server/random.cc, that a unit test cannot measure reliably).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "server/options.h"
#include "server/random.h"

namespace coder::server {
namespace {

TEST(ServerSecurityTest, DefaultsServeOnLoopbackOnly) {
  const auto options = ParseServerFlags(ServerFlags{});
  ASSERT_TRUE(options.ok()) << options.error().message;
  EXPECT_EQ(options->host, "127.0.0.1");
  ServerFlags localhost;
  localhost.http_address = "localhost:0";
  const auto named = ParseServerFlags(localhost);
  ASSERT_TRUE(named.ok()) << named.error().message;
  EXPECT_EQ(named->host, "127.0.0.1");  // never a name a resolver could map elsewhere
}

TEST(ServerSecurityTest, AnEmptyHostIsRefusedRatherThanServingOnEveryInterface) {
  ServerFlags flags;
  flags.http_address = ":3000";
  const auto options = ParseServerFlags(flags);
  ASSERT_FALSE(options.ok());
  EXPECT_NE(options.error().message.find("127.0.0.1"), std::string::npos) << options.error().message;
}

TEST(ServerSecurityTest, TokenComparisonAnswersLikeEquality) {
  const std::string token = RandomHex(32);
  EXPECT_TRUE(ConstantTimeEquals(token, token));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  for (size_t i = 0; i < token.size(); ++i) {
    std::string other = token;
    other[i] = other[i] == '0' ? '1' : '0';
    EXPECT_FALSE(ConstantTimeEquals(token, other)) << "differs at " << i;
  }
  EXPECT_FALSE(ConstantTimeEquals(token, token.substr(0, token.size() - 1)));
  EXPECT_FALSE(ConstantTimeEquals(token, token + "0"));
  EXPECT_FALSE(ConstantTimeEquals(token, ""));
  // A NUL inside is a byte like any other, not the end of the string.
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(ServerSecurityTest, TokensAre32BytesOfHexAndNeverRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string t = RandomHex(32);
    ASSERT_EQ(t.size(), 64u);
    ASSERT_EQ(t.find_first_not_of("0123456789abcdef"), std::string::npos) << t;
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace coder::server
