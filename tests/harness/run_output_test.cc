// What a run's own output looks like on a terminal and in the report's notes.
#include "harness/analysis/run_output.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/terminal_text.h"

namespace coder::harness {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

RunRecord WithLog(std::string variant, int index, Outcome outcome, LogClock clock, std::vector<LogLine> lines) {
  RunRecord r;
  r.variant = std::move(variant);
  r.index = index;
  r.outcome = outcome;
  r.log_lines = lines.size();
  r.log = RunLog{clock, std::move(lines), 0, 0};
  return r;
}

TEST(TerminalTextTest, ControlCharactersAreWrittenOutVisibly) {
  EXPECT_EQ(TerminalSafe("\x1b[2J\x1b]0;owned\x07 ok\tdone"), "\\x1b[2J\\x1b]0;owned\\x07 ok\tdone");
  EXPECT_EQ(TerminalSafe("over\rwrite\x7f"), "over\\x0dwrite\\x7f");
  EXPECT_EQ(TerminalSafe("a\nb"), "a\\x0ab");
  EXPECT_EQ(TerminalSafe("a\nb", true), "a\nb");
  // C1 controls: U+009B is a one-character CSI on some terminals.
  EXPECT_EQ(TerminalSafe("\xC2\x9B"
                         "31m red"),
            "\\u009b31m red");
  EXPECT_EQ(TerminalSafe("caf\xC3\xA9 \xC2\xB5s"), "caf\xC3\xA9 \xC2\xB5s");  // printable UTF-8 stays
  EXPECT_EQ(TerminalSafe("bad \xFF byte"), "bad \xEF\xBF\xBD byte");
}

TEST(RunOutputTest, LastLinesAreTaggedByStreamAndTimedOnTheLogsClock) {
  const RunRecord r = WithLog("v", 0, Outcome::kKilledByWatchdog, LogClock::kSignal,
                              {{-41.25, 1, "ready"}, {0.5, 2, "Stop caught"}, {8000, 1, "\x1b[31mstill here"}});
  EXPECT_THAT(LastOutputLines(r, 2, false), ElementsAre("stderr| Stop caught", "stdout| \\x1b[31mstill here"));
  EXPECT_THAT(LastOutputLines(r, 10, true), ElementsAre("-0.041s stdout| ready", "+0.001s stderr| Stop caught",
                                                        "+8.000s stdout| \\x1b[31mstill here"));
  EXPECT_EQ(LogClockPhrase(r), "from the stop signal");
}

TEST(RunOutputTest, ARecordWithoutALogFallsBackToItsTailAndLongLinesAreCut) {
  RunRecord r;
  r.variant = "v";
  r.log_tail = {"old", std::string(1000, 'x')};
  const auto lines = LastOutputLines(r, 5, false);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "| old");
  EXPECT_EQ(lines[1], "| " + std::string(400, 'x') + " ... [600 more bytes]");
}

TEST(RunOutputTest, OnlyTheFirstFailedRunOfEachVariantEchoesItsOutput) {
  FailedRunEcho echo;
  RunRecord clean = WithLog("python3", 0, Outcome::kClean, LogClock::kSignal, {{1, 1, "hi"}});
  EXPECT_EQ(echo.OnRunFinished(clean), std::nullopt);
  RunRecord failed =
      WithLog("python3", 1, Outcome::kFailedToStart, LogClock::kLaunch,
              {{20, 2, "usage: server.py [-h] [port]"}, {21, 2, "server.py: error: unrecognized arguments: --bogus"}});
  failed.detail = "exited before it was ready: exit 2";
  EXPECT_EQ(echo.OnRunFinished(failed),
            "coder diag shutdown: python3 #1 failed-to-start (exited before it was ready: exit 2); its output:\n"
            "  stderr| usage: server.py [-h] [port]\n"
            "  stderr| server.py: error: unrecognized arguments: --bogus\n");
  failed.index = 2;
  EXPECT_EQ(echo.OnRunFinished(failed), std::nullopt);
  RunRecord silent = WithLog("other", 0, Outcome::kNeverReady, LogClock::kLaunch, {});
  silent.detail = "not ready within 30s";
  EXPECT_EQ(echo.OnRunFinished(silent),
            "coder diag shutdown: other #0 never-ready (not ready within 30s); it printed nothing\n");
}

TEST(RunOutputTest, AnEchoOfACutLogSaysHowManyLinesItShows) {
  FailedRunEcho echo;
  std::vector<LogLine> lines;
  for (int i = 0; i < 30; ++i) lines.push_back({static_cast<double>(i), 1, "line " + std::to_string(i)});
  RunRecord r = WithLog("v", 0, Outcome::kCrashed, LogClock::kSignal, lines);
  r.log_lines = 1000;
  const auto text = echo.OnRunFinished(r);
  ASSERT_TRUE(text);
  EXPECT_THAT(*text, HasSubstr("; its last 20 of 1000 lines of output:\n  stdout| line 10\n"));
  EXPECT_THAT(*text, HasSubstr("  stdout| line 29\n"));
}

TEST(RunOutputTest, HangNotesShowTheFirstHungRunOfEachVariantInOrder) {
  std::vector<RunRecord> runs;
  runs.push_back(WithLog("a", 1, Outcome::kKilledByWatchdog, LogClock::kSignal, {{9000, 2, "second hang"}}));
  runs.push_back(WithLog("a", 0, Outcome::kTimeoutFingerprint, LogClock::kSignal, {{10002, 2, "timed out"}}));
  runs.back().detail = "a shutdown wait ran out its timeout";
  runs.push_back(WithLog("b", 0, Outcome::kFailedToStart, LogClock::kLaunch, {{1, 2, "no such flag"}}));
  runs.push_back(WithLog("c", 0, Outcome::kCrashed, LogClock::kLaunch, {}));
  const std::string notes = HangOutputNotes({"c", "b", "a"}, runs);
  EXPECT_EQ(notes,
            "\nLast output before the stop went wrong, first such run per variant:\n"
            "  c #0 crashed, times from the launch (never signalled):\n"
            "    (no output)\n"
            "  a #0 timeout-fingerprint (a shutdown wait ran out its timeout), times from the stop signal:\n"
            "    +10.002s stderr| timed out\n");
  EXPECT_EQ(HangOutputNotes({"b"}, runs), "");  // failing to start is not a hang: stderr showed it already
}

}  // namespace
}  // namespace coder::harness
