#include "harness/fingerprint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/command_line.h"
#include "harness/spawn.h"

namespace coder::harness {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::set<std::string> ScanAll(const FingerprintSet& set, std::initializer_list<std::string_view> lines) {
  std::set<std::string> matched;
  for (auto line : lines) set.Scan(line, matched);
  return matched;
}

TEST(FingerprintTest, FindsTheWebsocketTimeoutLineInHumanAndJsonLogs) {
  auto set = FingerprintSet::Create({});
  ASSERT_TRUE(set.ok());
  const std::string human =
      "2026-11-24 04:05:23.822 [warn] websocket shutdown timed out after 10 seconds  held=ai-gateway-rpc#1 held_count=1";
  const std::string json = R"({"ts":"x","level":"warn","msg":"websocket shutdown timed out after 1.5 seconds","held":"a, b"})";
  EXPECT_THAT(ScanAll(**set, {human}), ElementsAre(kFpWebsocketTimeout));
  EXPECT_THAT(ScanAll(**set, {json}), ElementsAre(kFpWebsocketTimeout));
  EXPECT_EQ((*set)->TimeoutSeconds(human), 10.0);
  EXPECT_EQ((*set)->TimeoutSeconds(json), 1.5);
  EXPECT_THAT(ParseHeldSlots(human), ElementsAre("ai-gateway-rpc#1"));
  EXPECT_THAT(ParseHeldSlots(json), ElementsAre("a", "b"));
  EXPECT_THAT(ScanAll(**set, {"Done waiting for WebSocket connections"}), IsEmpty());
}

TEST(FingerprintTest, QuotedHeldSlotsWithSpacesAreParsed) {
  const std::string line =
      R"(... [warn] websocket shutdown timed out after 10 seconds  held="websocket /w#2 from 127.0.0.1:5, ai-gateway-rpc#1" held_count=2)";
  EXPECT_THAT(ParseHeldSlots(line), ElementsAre("websocket /w#2 from 127.0.0.1:5", "ai-gateway-rpc#1"));
}

TEST(FingerprintTest, UserFingerprintsMatchTheirRegex) {
  auto set = FingerprintSet::Create({"pool-drain=connection pool drain (timed out|exceeded)", "oom=out of memory"});
  ASSERT_TRUE(set.ok());
  EXPECT_THAT(ScanAll(**set, {"WARN connection pool drain exceeded 5s", "ok"}), ElementsAre("pool-drain"));
  EXPECT_FALSE(FingerprintSet::IsTimeoutFingerprint("pool-drain"));
  EXPECT_TRUE(FingerprintSet::IsTimeoutFingerprint(kFpWebsocketTimeout));
}

TEST(FingerprintTest, BadSpecsAreClearErrors) {
  auto no_eq = FingerprintSet::Create({"just-a-name"});
  ASSERT_FALSE(no_eq.ok());
  EXPECT_THAT(no_eq.error().message, HasSubstr("want NAME=REGEX"));
  auto bad_regex = FingerprintSet::Create({"x=(unclosed"});
  ASSERT_FALSE(bad_regex.ok());
  EXPECT_THAT(bad_regex.error().message, HasSubstr("missing )"));
  // RE2 refuses what would need backtracking, which keeps every scan linear.
  EXPECT_FALSE(FingerprintSet::Create({"backref=(a)\\1"}).ok());
}

TEST(StepLineTest, ParsesHumanAndJsonStepLines) {
  auto human = ParseStepLine("2026-11-24 04:05:23.822 [info] shutdown step done  step=websocket-wait took=10.001s took_ms=10000.9 completed=false");
  ASSERT_TRUE(human);
  EXPECT_EQ(human->name, "websocket-wait");
  EXPECT_DOUBLE_EQ(human->ms, 10001);
  auto micro = ParseStepLine("[info] shutdown step done  step=api-drain took=85.3\xC2\xB5s took_ms=0.085 completed=true");
  ASSERT_TRUE(micro);
  EXPECT_NEAR(micro->ms, 0.0853, 1e-9);
  auto json = ParseStepLine(R"({"msg":"shutdown step done","step":"ai-gateway","took":"1ms","took_ms":1.25})");
  ASSERT_TRUE(json);
  EXPECT_EQ(json->name, "ai-gateway");
  EXPECT_DOUBLE_EQ(json->ms, 1.25);
  EXPECT_FALSE(ParseStepLine("Shutting down API server..."));
}

TEST(LatencyFingerprintTest, MatchesOnlyJustAtOrAfterAKnownTimeout) {
  EXPECT_TRUE(LatencyAtKnownTimeout(10'001, {10'000}));
  EXPECT_TRUE(LatencyAtKnownTimeout(9'950, {10'000}));
  EXPECT_FALSE(LatencyAtKnownTimeout(9'000, {10'000}));
  EXPECT_FALSE(LatencyAtKnownTimeout(11'000, {10'000}));
  EXPECT_FALSE(LatencyAtKnownTimeout(1.2, {10'000}));
  EXPECT_TRUE(LatencyAtKnownTimeout(320, {10'000, 300}));
}

TEST(CommandLineTest, SplitsLikeAShellWithoutRunningOne) {
  auto words = SplitCommandLine(R"(server --name 'a b' --x "c \"d\" $HOME" e\ f  )");
  ASSERT_TRUE(words.ok());
  EXPECT_THAT(*words, ElementsAre("server", "--name", "a b", "--x", "c \"d\" $HOME", "e f"));
  EXPECT_THAT(*SplitCommandLine("a;rm -rf /"), ElementsAre("a;rm", "-rf", "/"));  // no shell, no operators
  EXPECT_FALSE(SplitCommandLine("'unterminated").ok());
  EXPECT_FALSE(SplitCommandLine("trailing\\").ok());
}

TEST(CommandLineTest, ResolvesProgramsLikeExecvp) {
  auto sh = ResolveExecutable("sh", ChildPath({}));
  ASSERT_TRUE(sh.ok());
  EXPECT_THAT(*sh, HasSubstr("/sh"));
  auto missing = ResolveExecutable("/no/such/server", ChildPath({}));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr("cannot execute /no/such/server: No such file or directory"));
  EXPECT_FALSE(ResolveExecutable("no-such-program-anywhere", ChildPath({})).ok());
  EXPECT_FALSE(ResolveExecutable("/tmp", ChildPath({})).ok());
}

TEST(CommandLineTest, WithPathUnsetBareNamesAreLookedUpInExecvpsDefault) {
  EXPECT_EQ(DefaultExecPath(), "/bin:/usr/bin");
  auto sh = ResolveExecutable("sh", std::nullopt);
  ASSERT_TRUE(sh.ok()) << sh.error().message;
  EXPECT_EQ(*sh, "/bin/sh");
  auto missing = ResolveExecutable("no-such-program-anywhere", std::nullopt);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message,
            "cannot execute no-such-program-anywhere: not found in PATH (unset, so /bin:/usr/bin)");
  // Set but empty is not unset: one empty entry, the current directory.
  EXPECT_FALSE(ResolveExecutable("sh", std::string()).ok());
  EXPECT_EQ(*ChildPath({{"PATH", "/a"}, {"PATH", "/b"}}), "/b");
}

}  // namespace
}  // namespace coder::harness
