// What `coder diag shutdown` shows of its targets: their own output when they fail, their whole log in
// the reports, the live status on a terminal, and the usage errors that keep a user from a wrong run.
#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <regex>
#include <tuple>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/report_files.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kReadyLine = "Started HTTP listener at ";

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

const json* FindLine(const json& log, const std::string& text) {
  for (const json& line : log["lines"])
    if (line[2].get<std::string>().rfind(text, 0) == 0) return &line;  // a prefix: the ready line ends in its port
  return nullptr;
}

TEST(DiagOutputTest, TheFirstFailedRunOfAVariantShowsTheTargetsOwnErrorOnStderr) {
  const auto r = RunDiag({"--runs", "2", "--", "python3", "-m", "http.server", "--bogus", "{port}"});
  ASSERT_TRUE(r.exit);
  EXPECT_EQ(r.exit->Describe(), "exit 1") << r.output;
  EXPECT_THAT(r.output,
              HasSubstr("coder diag shutdown: python3 #0 failed-to-start (exited before it was ready: exit 2"));
  EXPECT_THAT(r.output, HasSubstr("  stderr| "));
  EXPECT_THAT(r.output, HasSubstr("error: unrecognized arguments: --bogus"));
  // Once per variant: the second run failed alike and says nothing more.
  EXPECT_EQ(Count(r.output, "unrecognized arguments"), 1u) << r.output;
}

TEST(DiagOutputTest, EscapeSequencesATargetPrintsNeverReachTheTerminalRaw) {
  TempDir dir;
  const auto md = dir.path() / "report.md";
  // It crashes on the stop signal: its output reaches stderr as it ends, and the table's and the
  // Markdown's notes on the crash.
  const auto r = RunDiag({"--runs", "1", "--ready-log", "ready", "--markdown", md.string(), "--", "sh", "-c",
                          R"(trap 'exit 1' TERM; printf '\033[2J\033]0;owned\007boom\n' >&2; echo ready;)"
                          R"( while :; do sleep 0.01; done)"});
  ASSERT_TRUE(r.exit);
  EXPECT_EQ(r.exit->Describe(), "exit 1") << r.output;
  EXPECT_THAT(r.output, HasSubstr(R"(  stderr| \x1b[2J\x1b]0;owned\x07boom)"));
  EXPECT_THAT(r.output, HasSubstr(R"(s stderr| \x1b[2J\x1b]0;owned\x07boom)"));
  EXPECT_THAT(ReadText(md), HasSubstr(R"(s stderr| \x1b[2J\x1b]0;owned\x07boom)"));
  EXPECT_EQ(r.output.find('\x1b'), std::string::npos);
  EXPECT_EQ(r.output.find('\x07'), std::string::npos);
  EXPECT_EQ(ReadText(md).find('\x1b'), std::string::npos);
}

TEST(DiagOutputTest, ShowOutputStreamsEveryLineTaggedWithItsRunAndStream) {
  const auto r = RunDiag({"--runs", "2", "--show-output", "--ready-log", kReadyLine, "--", "sh", "-c",
                          "echo to-stderr >&2; exec " CALIBRATED_TARGET_PATH " --print-after-signal bye-now"});
  ASSERT_TRUE(r.exit);
  EXPECT_EQ(r.exit->Describe(), "exit 0") << r.output;
  for (const char* run : {"sh #0 ", "sh #1 "}) {
    EXPECT_THAT(r.output, HasSubstr(std::string(run) + "stderr| to-stderr"));
    EXPECT_THAT(r.output, HasSubstr(std::string(run) + "stdout| Started HTTP listener at"));
    EXPECT_THAT(r.output, HasSubstr(std::string(run) + "stdout| bye-now"));
  }
}

TEST(DiagLogTest, ARunThatWasNotCleanKeepsItsWholeLogWithStreamsAndTimesInEveryReport) {
  TempDir dir;
  const auto report = dir.path() / "report.json";
  const auto lines = dir.path() / "runs.jsonl";
  const auto md = dir.path() / "report.md";
  // 80 flood lines before the ready line (twice the old 40-line tail), one on stderr, one after the signal.
  const std::string crash = "crash=sh -c 'echo early-on-stderr >&2; exec " CALIBRATED_TARGET_PATH
                            " --flood-bytes 8000 --print-after-signal stopping-now --exit-code 3'";
  const auto r =
      RunDiag({"--runs", "1", "--ready-log", kReadyLine, "--json", report.string(), "--jsonl", lines.string(),
               "--markdown", md.string(), "--target", "clean=" CALIBRATED_TARGET_PATH, "--target", crash});
  ASSERT_TRUE(r.exit);
  EXPECT_EQ(r.exit->Describe(), "exit 1") << r.output;
  const json j = ReadJson(report);
  ASSERT_TRUE(j.is_object()) << r.output;
  ASSERT_EQ(j["runs"].size(), 2u);
  const json& clean = j["runs"][0];
  const json& crashed = j["runs"][1];
  EXPECT_EQ(clean["outcome"], "clean");
  EXPECT_TRUE(clean["log"].is_null()) << "a clean run keeps only its tail";
  EXPECT_EQ(crashed["outcome"], "crashed");
  const json& log = crashed["log"];
  ASSERT_TRUE(log.is_object()) << crashed.dump();
  EXPECT_EQ(log["clock"], "signal");
  EXPECT_EQ(log["dropped_lines"], 0);
  EXPECT_GT(log["lines"].size(), 80u);
  EXPECT_EQ(log["lines"].size(), crashed["log_lines"].get<size_t>());
  EXPECT_EQ(crashed["log_tail"].size(), 40u);
  const json* early = FindLine(log, "early-on-stderr");
  const json* ready = FindLine(log, "Started HTTP listener at http://127.0.0.1:");
  const json* after = FindLine(log, "stopping-now");
  ASSERT_TRUE(early && ready && after) << log.dump();
  // Written first, but on the other pipe: when the harness reads it depends on its polling, so only
  // its stream is certain.
  EXPECT_EQ((*early)[1], "stderr");
  EXPECT_EQ((*ready)[1], "stdout");
  EXPECT_LT((*ready)[0].get<double>(), 0);
  EXPECT_LT(log["lines"][0][0].get<double>(), 0);
  EXPECT_EQ((*after)[1], "stdout");
  EXPECT_GE((*after)[0].get<double>(), 0);
  EXPECT_EQ(log["lines"].back()[2], "exiting with code 3");

  // The JSON lines hold the same records.
  const auto records = ReadJsonLines(lines);
  ASSERT_EQ(records.size(), 2u);
  for (const json& rec : records) EXPECT_EQ(rec["log"].is_null(), rec["outcome"] == "clean") << rec.dump();

  // The table's notes and the Markdown show the last lines before the crash, timed from the signal.
  EXPECT_THAT(r.output, HasSubstr("Last output before the stop went wrong, first such run per variant:\n"
                                  "  crash #0 crashed (exited with status 3), times from the stop signal:\n"));
  EXPECT_THAT(r.output, HasSubstr(" stdout| stopping-now\n"));
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(\n    \+\d+\.\d{3}s stdout\| exiting with code 3\n)")))
      << r.output;
  const std::string markdown = ReadText(md);
  EXPECT_THAT(markdown, HasSubstr("### Last output before the stop went wrong"));
  EXPECT_THAT(markdown, HasSubstr("**crash #0** crashed: exited with status 3 (times from the stop signal)"));
  EXPECT_THAT(markdown, HasSubstr(" stdout| exiting with code 3\n```\n"));
}

TEST(DiagLogTest, KeepLogsKeepsCleanRunsLogsAndLogBytesBoundsThem) {
  TempDir dir;
  const auto report = dir.path() / "report.json";
  const auto r = RunDiag({"--runs", "1", "--keep-logs", "--log-bytes", "16KiB", "--ready-log", kReadyLine, "--json",
                          report.string(), "--", CALIBRATED_TARGET_PATH, "--flood-bytes", "100000"});
  ASSERT_TRUE(r.exit);
  EXPECT_EQ(r.exit->Describe(), "exit 0") << r.output;
  const json j = ReadJson(report);
  ASSERT_TRUE(j.is_object()) << r.output;
  const json& run = j["runs"][0];
  EXPECT_EQ(run["outcome"], "clean");
  const json& log = run["log"];
  ASSERT_TRUE(log.is_object()) << run.dump();
  // Cut at its head, and it says by how much.
  EXPECT_GT(log["dropped_lines"].get<int>(), 500);
  EXPECT_GT(log["dropped_bytes"].get<int>(), 50'000);
  EXPECT_EQ(log["dropped_lines"].get<size_t>() + log["lines"].size(), run["log_lines"].get<size_t>());
  EXPECT_EQ(log["lines"].back()[2], "exiting with code 0");
  EXPECT_EQ(j["meta"]["options"]["log_bytes"], 16384);
}

TEST(DiagSectionsTest, AForeignTargetGetsNoBuiltinServerSectionsAndAClosedLoopNoMemoryBlock) {
  TempDir dir;
  const auto md = dir.path() / "report.md";
  const auto junit = dir.path() / "junit.xml";
  const auto r = RunDiag({"--runs", "1", "--markdown", md.string(), "--junit", junit.string(), "--", "sh", "-c",
                          "echo nothing to see; exit 1"});
  ASSERT_TRUE(r.exit);
  EXPECT_EQ(r.exit->Describe(), "exit 1") << r.output;  // a finding, which once brought the slots block
  EXPECT_THAT(r.output, Not(HasSubstr("Held wait-group slots")));
  EXPECT_THAT(r.output, Not(HasSubstr("dominant step")));
  EXPECT_THAT(r.output, Not(HasSubstr("Memory held by live targets")));
  const std::string markdown = ReadText(md);
  EXPECT_THAT(markdown, HasSubstr("### Shutdown per variant"));
  EXPECT_THAT(markdown, Not(HasSubstr("dominant step")));
  EXPECT_THAT(markdown, Not(HasSubstr("### Held wait-group slots")));
  EXPECT_THAT(markdown, Not(HasSubstr("### Memory held")));
  EXPECT_THAT(ReadText(junit), Not(HasSubstr("name=\"budget\"")));

  // A budget asks for the memory block, closed loop or not.
  const auto budget =
      RunDiag({"--runs", "1", "--memory-budget", "1GiB", "--markdown", md.string(), "--", "sh", "-c", "exit 1"});
  ASSERT_TRUE(budget.exit);
  EXPECT_THAT(budget.output, HasSubstr("Memory held by live targets"));
  EXPECT_THAT(ReadText(md), HasSubstr("### Memory held"));
}

TEST(DiagSectionsTest, TheBuiltinServerStillShowsItsStepsAndSlots) {
  const auto r = RunDiag({"--runs", "1", "--gateway", "on", "--shutdown-order", "unpatched",
                          "--websocket-shutdown-timeout", "300ms", "--baseline", "none"});
  ASSERT_TRUE(r.exit);
  EXPECT_EQ(r.exit->Describe(), "exit 1") << r.output;
  EXPECT_THAT(r.output, HasSubstr("dominant step"));
  EXPECT_THAT(r.output, HasSubstr("Held wait-group slots, per variant with findings:"));
  EXPECT_THAT(r.output, HasSubstr("ai-gateway-rpc#1"));
}

struct UsageCase {
  std::string name;
  std::vector<std::string> args;
  std::string message;
};

class DiagFlagUsageTest : public ::testing::TestWithParam<UsageCase> {};

TEST_P(DiagFlagUsageTest, ExitsTwoNamingTheProblem) {
  const auto r = RunDiag(GetParam().args, 20s);
  ASSERT_TRUE(r.exit);
  EXPECT_EQ(r.exit->Describe(), "exit 2") << r.output;
  EXPECT_THAT(r.output, HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    BadInput, DiagFlagUsageTest,
    ::testing::Values(
        UsageCase{"GatewayWithACommand",
                  {"--gateway", "on", "--", "true"},
                  "--gateway is an option of the built-in server; it does not apply to a target given after --"},
        UsageCase{"ShutdownOrderWithATarget",
                  {"--shutdown-order", "patched", "--target", "a=true"},
                  "--shutdown-order is an option of the built-in server; it does not apply to a target given with "
                  "--target"},
        UsageCase{"WebsocketTimeoutWithACommand",
                  {"--websocket-shutdown-timeout", "1s", "--", "true"},
                  "--websocket-shutdown-timeout is an option of the built-in server"},
        UsageCase{
            "RunsInExponentForm", {"--runs", "2e9", "--", "true"}, "--runs 2e9: at most 1000000 runs per variant"},
        UsageCase{"RunsAsManyDigits",
                  {"--runs", "2000000000", "--", "true"},
                  "--runs 2000000000: at most 1000000 runs per variant"},
        UsageCase{"RunsBeyondAnyInteger", {"--runs", "99999999999999999999", "--", "true"}, "at most 1000000"},
        UsageCase{"RunsNotWhole", {"--runs", "1.5", "--", "true"}, "--runs 1.5: want a whole number from 1 to 1000000"},
        UsageCase{"ParallelTooHigh",
                  {"--parallel", "2000000000", "--", "true"},
                  "--parallel 2000000000: at most 1024 targets at once"},
        UsageCase{"MaxLiveTooHigh",
                  {"--max-live", "100000", "--arrival-interval", "1s", "--", "true"},
                  "--max-live 100000: at most 1024 targets at once"},
        UsageCase{
            "LogBytesTooSmall", {"--log-bytes", "1KiB", "--", "true"}, "--log-bytes 1KiB: want from 4KiB to 1GiB"},
        UsageCase{"CommandWithoutSeparator",
                  {"python3", "-m", "http.server"},
                  "put -- before the target's command: coder diag shutdown [OPTIONS] -- python3 -m http.server"},
        UsageCase{"CommandWithoutSeparatorAfterOptions",
                  {"--runs", "3", "--keep-logs", "python3", "-m", "http.server", "--bind", "127.0.0.1"},
                  "coder diag shutdown [OPTIONS] -- python3 -m http.server --bind 127.0.0.1"},
        UsageCase{"CommandWithoutSeparatorOrFlags",
                  {"sh", "my server.sh"},
                  "put -- before the target's command: coder diag shutdown [OPTIONS] -- sh 'my server.sh'"}),
    [](const ::testing::TestParamInfo<UsageCase>& param_info) { return param_info.param.name; });

TEST(DiagSignalTest, SignalNamesAreTakenInAnyCaseWithOrWithoutSig) {
  TempDir dir;
  for (const auto& [given, number, name] :
       {std::tuple{"term", 15, "SIGTERM"}, std::tuple{"sigint", 2, "SIGINT"}, std::tuple{"SigTerm", 15, "SIGTERM"}}) {
    const auto report = dir.path() / (std::string(given) + ".json");
    const auto r = RunDiag({"--runs", "1", "--signal", given, "--keep-logs", "--ready-log", kReadyLine, "--json",
                            report.string(), "--", CALIBRATED_TARGET_PATH});
    ASSERT_TRUE(r.exit) << given;
    EXPECT_EQ(r.exit->Describe(), "exit 0") << given << "\n" << r.output;
    const json j = ReadJson(report);
    ASSERT_TRUE(j.is_object()) << r.output;
    EXPECT_EQ(j["meta"]["options"]["signal"], number) << given;
    EXPECT_TRUE(FindLine(j["runs"][0]["log"], fmt::format("signal {} received", name))) << j["runs"][0].dump();
  }
}

/// `coder` run with a pseudo-terminal as its stdin, stdout and stderr, as a user's shell would: what
/// it wrote there, and how it ended.
struct TerminalRun {
  std::optional<int> exit_code;
  std::string output;
};

TerminalRun RunOnATerminal(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  std::vector<char*> argv;
  std::string binary = CODER_BINARY_PATH;
  argv.push_back(binary.data());
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  winsize size{};
  size.ws_row = 40;
  size.ws_col = 250;
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, &size);
  if (pid < 0) {
    ADD_FAILURE() << "forkpty: " << std::strerror(errno);
    return {};
  }
  if (pid == 0) {
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  TerminalRun run;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  bool exited = false;
  // Read until the terminal reports end of file (EIO once the last writer has closed it).
  for (;;) {
    pollfd readable{master, POLLIN, 0};
    const int ready = ::poll(&readable, 1, 100);
    if (ready > 0) {
      char buf[4096];
      const ssize_t n = ::read(master, buf, sizeof buf);
      if (n <= 0) break;
      run.output.append(buf, static_cast<size_t>(n));
    }
    if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) exited = true;
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "still running after the timeout:\n" << run.output;
      ::kill(pid, SIGKILL);
      break;
    }
  }
  if (!exited) ::waitpid(pid, &status, 0);
  ::close(master);
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  return run;
}

TEST(DiagProgressTest, OnATerminalTheStatusLineShowsTimeLeftAndRedrawsWhileARunIsStopping) {
  // Each run ignores the stop signal for the watchdog's 1.5 s: only the redraw timer can show that wait.
  const auto r = RunOnATerminal({"diag", "shutdown", "--runs", "2", "--kill-after", "1500ms", "--ready-log", kReadyLine,
                                 "--", CALIBRATED_TARGET_PATH, "--ignore-signals"},
                                60s);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("\r\x1b[K[0/2] | "));
  EXPECT_TRUE(
      std::regex_search(r.output, std::regex(R"(\[0/2\] \| \ds \| calibrated_target #0: stopping for \d\.\ds)")))
      << r.output;
  EXPECT_TRUE(std::regex_search(
      r.output,
      std::regex(R"(\[1/2\] 1 killed-by-watchdog \| \ds, ~\ds left \| calibrated_target #1: \w+ for \d\.\ds)")))
      << r.output;
  EXPECT_THAT(r.output, HasSubstr("[2/2] 2 killed-by-watchdog"));
}

}  // namespace
}  // namespace coder::e2e
