#include "harness/analysis/fingerprint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/builtin/builtin_log.h"
#include "harness/process/command_line.h"
#include "harness/process/spawn.h"

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
      "2026-11-24 04:05:23.822 [warn] websocket shutdown timed out after 10 seconds  held=ai-gateway-rpc#1 "
      "held_count=1";
  const std::string json =
      R"({"ts":"x","level":"warn","msg":"websocket shutdown timed out after 1.5 seconds","held":"a, b"})";
  EXPECT_THAT(ScanAll(**set, {human}), ElementsAre(kFpWebsocketTimeout));
  EXPECT_THAT(ScanAll(**set, {json}), ElementsAre(kFpWebsocketTimeout));
  EXPECT_EQ((*set)->TimeoutSeconds(human), 10.0);
  EXPECT_EQ((*set)->TimeoutSeconds(json), 1.5);
  EXPECT_THAT(builtin::ParseHeldSlots(human), ElementsAre("ai-gateway-rpc#1"));
  EXPECT_THAT(builtin::ParseHeldSlots(json), ElementsAre("a", "b"));
  EXPECT_THAT(ScanAll(**set, {"Done waiting for WebSocket connections"}), IsEmpty());
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

// ---- generic timeout lines, judged after the stop signal ----

std::set<std::string> AfterSignal(const FingerprintSet& set, std::string_view line) {
  std::set<std::string> matched;
  set.Scan(line, StopPhase::kAfterSignal, matched);
  return matched;
}

TEST(GenericTimeoutFingerprintTest, EachExampleMatchesItsOwnNameAndCountsAsATimeout) {
  auto set = FingerprintSet::Create({});
  ASSERT_TRUE(set.ok());
  for (const GenericTimeoutLine& g : GenericTimeoutLines()) {
    EXPECT_THAT(AfterSignal(**set, g.example), ::testing::Contains(g.name)) << g.example;
    EXPECT_TRUE(FingerprintSet::IsTimeoutFingerprint(g.name)) << g.name;
    EXPECT_TRUE(IsBuiltinFingerprint(g.name)) << g.name;
  }
  EXPECT_EQ(BuiltinLineFingerprintNames().front(), kFpWebsocketTimeout);
  EXPECT_EQ(BuiltinLineFingerprintNames().size(), GenericTimeoutLines().size() + 1);
}

TEST(GenericTimeoutFingerprintTest, RealWorldLinesFromGoNodePythonJavaAndSupervisors) {
  auto set = FingerprintSet::Create({});
  ASSERT_TRUE(set.ok());
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"2026/11/24 04:05:23 shutdown: context deadline exceeded", "deadline-exceeded"},
      {"rpc error: code = DeadlineExceeded desc = context deadline exceeded", "deadline-exceeded"},
      {"grpc: DEADLINE_EXCEEDED", "deadline-exceeded"},
      {"SERVER SHUTDOWN TIMED OUT", "timed-out"},
      {"Error: Timed-out waiting for server.close()", "timed-out"},
      {"Error: connect ETIMEDOUT 10.0.0.1:443", "etimedout"},
      {"TimeoutError: The operation was aborted due to timeout", "timeout-exception"},
      {"java.util.concurrent.TimeoutException: null", "timeout-exception"},
      {"Exception in thread main java.net.SocketTimeoutException: Read timed out", "timeout-exception"},
      {"Container 0a1b failed to exit within 10 seconds of signal 15 - using the force", "not-within-timeout"},
      {"worker did not stop within the grace period", "not-within-timeout"},
      {"Timeout exceeded while waiting for connections", "timeout-exceeded"},
      {"the drain exceeded its timeout", "timeout-exceeded"},
      {"graceful shutdown took longer than 5s, forcing exit", "took-longer-than"},
      {"Shutdown timeout reached, terminating", "shutdown-timeout"},
      {"deadline expired before the queue drained", "timeout-expired"},
      {"read tcp 127.0.0.1:8080->127.0.0.1:4242: i/o timeout", "io-timeout"},
  };
  for (const auto& [line, name] : cases) EXPECT_THAT(AfterSignal(**set, line), ::testing::Contains(name)) << line;
}

TEST(GenericTimeoutFingerprintTest, OrdinaryShutdownLinesAndSettingsDoNotMatch) {
  auto set = FingerprintSet::Create({});
  ASSERT_TRUE(set.ok());
  for (std::string_view line :
       {"Shutting down API server...", "Gracefully shut down API server", "Done waiting for WebSocket connections",
        "Shutdown complete in 1.20ms: api-drain 85µs (7.1%)", "shutdown timeout=30s", "shutdown timeout: 30s",
        "Using a shutdown timeout of 30s", "graceful shutdown timeout (30s) starts now", "read timeout set to 5s",
        "timeout=5s", "Stop caught, gracefully exiting. Use ctrl+\\ to force quit",
        "shutdown step done  step=websocket-wait took=1.20ms took_ms=1.2 completed=true", "finished within 3 seconds"})
    EXPECT_THAT(AfterSignal(**set, line), IsEmpty()) << line;
}

TEST(GenericTimeoutFingerprintTest, OnlyLinesAfterTheStopSignalCount) {
  auto set = FingerprintSet::Create({"custom=context deadline"});
  ASSERT_TRUE(set.ok());
  std::set<std::string> before;
  (*set)->Scan("shutdown: context deadline exceeded", StopPhase::kBeforeSignal, before);
  EXPECT_THAT(before, ElementsAre("custom"));  // the user's own fingerprints apply at any time
  std::set<std::string> ws;
  (*set)->Scan("websocket shutdown timed out after 10 seconds", StopPhase::kBeforeSignal, ws);
  EXPECT_THAT(ws, ElementsAre(kFpWebsocketTimeout));  // and so does the exact built-in line
  EXPECT_THAT(AfterSignal(**set, "shutdown: context deadline exceeded"), ElementsAre("custom", "deadline-exceeded"));
}

TEST(GenericTimeoutFingerprintTest, TheBuiltInServersLineCountsOnceByItsOwnName) {
  auto set = FingerprintSet::Create({});
  ASSERT_TRUE(set.ok());
  EXPECT_THAT(AfterSignal(**set, "[warn] websocket shutdown timed out after 10 seconds  held=ai-gateway-rpc#1"),
              ElementsAre(kFpWebsocketTimeout));
  // Switched off, it is an ordinary line that timed out.
  auto without = FingerprintSet::Create({}, {kFpWebsocketTimeout});
  ASSERT_TRUE(without.ok());
  EXPECT_THAT(AfterSignal(**without, "[warn] websocket shutdown timed out after 10 seconds"), ElementsAre("timed-out"));
}

TEST(GenericTimeoutFingerprintTest, EachCanBeSwitchedOffAndAnUnknownNameListsTheNames) {
  auto set = FingerprintSet::Create({}, {"deadline-exceeded", "timed-out"});
  ASSERT_TRUE(set.ok());
  EXPECT_THAT(AfterSignal(**set, "shutdown: context deadline exceeded"), IsEmpty());
  EXPECT_THAT(AfterSignal(**set, "shutdown timed out"), IsEmpty());
  EXPECT_THAT(AfterSignal(**set, "Error: read ETIMEDOUT"), ElementsAre("etimedout"));
  std::vector<std::string> every = BuiltinLineFingerprintNames();
  auto none = FingerprintSet::Create({}, every);
  ASSERT_TRUE(none.ok());
  for (const GenericTimeoutLine& g : GenericTimeoutLines()) EXPECT_THAT(AfterSignal(**none, g.example), IsEmpty());

  auto unknown = FingerprintSet::Create({}, {"deadline-exceded"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.error().message, HasSubstr("--no-fingerprint deadline-exceded: not a built-in line fingerprint"));
  EXPECT_THAT(unknown.error().message, HasSubstr("websocket-shutdown-timeout, timed-out, deadline-exceeded, "));
}

TEST(GenericTimeoutFingerprintTest, ALongVariedLineIsStillScannedWhole) {
  // Many distinct words make the set's DFA build many states; whether or not it gives up, the match stands.
  std::string line;
  for (int i = 0; i < 20'000; ++i) line += "w" + std::to_string(i * 7919 % 100'003) + (i % 3 ? " not " : ". within ");
  line += "context deadline exceeded";
  auto set = FingerprintSet::Create({});
  ASSERT_TRUE(set.ok());
  EXPECT_THAT(AfterSignal(**set, line), ::testing::Contains("deadline-exceeded"));
}

TEST(GenericTimeoutFingerprintTest, AUserFingerprintCannotTakeABuiltInName) {
  for (const char* name : {"timed-out", "latency-at-known-timeout", "websocket-shutdown-timeout"}) {
    auto set = FingerprintSet::Create({std::string(name) + "=x"});
    ASSERT_FALSE(set.ok()) << name;
    EXPECT_THAT(set.error().message, HasSubstr("is a built-in fingerprint's name"));
  }
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

namespace coder::harness {
namespace {

// A pattern whose DFA thrashes ran 400 times slower than a plain one on the reader thread, which then
// stopped draining the target's output.
TEST(FingerprintBoundsTest, UserPatternsSeeEachLinesHeadAndHaveABoundedProgram) {
  auto set = FingerprintSet::Create({"late=needle"});
  ASSERT_TRUE(set.ok()) << set.error().message;
  std::set<std::string> matched;
  (*set)->Scan(std::string(kUserFingerprintScanBytes - 6, 'x') + "needle", StopPhase::kAfterSignal, matched);
  EXPECT_EQ(matched.count("late"), 1u);
  matched.clear();
  (*set)->Scan(std::string(kUserFingerprintScanBytes, 'x') + "needle", StopPhase::kAfterSignal, matched);
  EXPECT_EQ(matched.count("late"), 0u) << "matched past the scanned head";

  // 119 304 instructions: within RE2's default 8 MiB, not within the 1 MiB a fingerprint may take.
  auto huge = FingerprintSet::Create({"huge=\\pL{100}"});
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.error().message.find("over the 1 MiB"), std::string::npos) << huge.error().message;
}

}  // namespace
}  // namespace coder::harness
