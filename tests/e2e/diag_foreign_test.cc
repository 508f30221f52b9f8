// `coder diag shutdown` against servers nobody on this team wrote (Python's http.server, redis, nginx),
// behind wrappers: readiness from the target's own process tree, signals as supervisors send them, and
// per-run set-up. Each test names the behaviour it proves; the bugs of issue 11 fail on the old harness.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "harness/measure/readiness.h"
#include "harness/process/port_reservation.h"
#include "tests/e2e/coder_server.h"
#include "tests/e2e/foreign_servers.h"
#include "tests/e2e/process_scan.h"
#include "tests/e2e/report_files.h"
#include "tests/harness/harness_test_util.h"
#include "tests/helpers/sanitizers.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;

std::string Python() { return SystemProgram("python3"); }

using Diag = DiagWithReport;

Diag RunWithReport(std::vector<std::string> args, std::chrono::milliseconds timeout = 90s) {
  return RunDiagWithReport(std::move(args), timeout);
}

// ---- Readiness ----

// The README's own example was refused ("has no valid port"): the URL was checked before {port} was
// substituted.
TEST(DiagReadinessTest, AReadyUrlWithThePortPlaceholderIsAccepted) {
  const auto python = Python();
  CODER_REQUIRE_PROGRAM(python, "python3");
  const auto d = RunWithReport({"--runs", "2", "--ready-url", "http://127.0.0.1:{port}/", "--", python, "-m",
                                "http.server", "{port}", "--bind", "127.0.0.1"});
  ASSERT_TRUE(d.run.exit) << d.run.output;
  EXPECT_EQ(d.run.exit->Describe(), "exit 0") << d.run.output;
  ASSERT_EQ(d.report["runs"].size(), 2u) << d.run.output;
  for (const auto& run : d.report["runs"]) EXPECT_EQ(run["outcome"], "clean") << run["detail"];
}

TEST(DiagReadinessTest, AServerIsReadyWithoutFlagsOnceItsOwnTreeListens) {
  const auto python = Python();
  CODER_REQUIRE_PROGRAM(python, "python3");
  const auto d = RunWithReport({"--runs", "2", "--", python, "-m", "http.server", "{port}", "--bind", "127.0.0.1"});
  ASSERT_TRUE(d.run.exit) << d.run.output;
  EXPECT_EQ(d.run.exit->Describe(), "exit 0") << d.run.output;
  EXPECT_EQ(d.report["meta"]["options"]["ready"]["listen"], true);
  for (const auto& run : d.report["runs"]) {
    EXPECT_EQ(run["outcome"], "clean") << run["detail"];
    EXPECT_TRUE(run["ready_ms"].is_number());
  }
}

// Another server already answering the port passed for the target: 3 clean runs of 125 µs while the
// target itself failed to bind it.
TEST(DiagReadinessTest, AnotherServerOnThePortIsNeverTakenForTheTarget) {
  const auto python = Python();
  CODER_REQUIRE_PROGRAM(python, "python3");
  auto reserved = harness::PortReservation::Reserve();
  ASSERT_TRUE(reserved.ok());
  const std::string port = std::to_string(reserved->port());
  harness::LaunchSpec squatter;
  squatter.argv = {python, "-m", "http.server", port, "--bind", "127.0.0.1"};
  auto other = harness::ChildProcess::Start(squatter);
  ASSERT_TRUE(other.ok()) << other.error().message;
  ASSERT_TRUE(harness::testing::Eventually(
      [&] {
        return harness::TcpConnects({"127.0.0.1", reserved->port()}, 200ms);
      },
      harness::testing::In(20s)));

  for (const std::string flag : {"--ready-url", "--ready-tcp"}) {
    const std::string where = flag == "--ready-url" ? "http://127.0.0.1:" + port + "/" : "127.0.0.1:" + port;
    const auto d =
        RunWithReport({"--runs", "2", flag, where, "--", python, "-m", "http.server", port, "--bind", "127.0.0.1"});
    ASSERT_TRUE(d.run.exit) << d.run.output;
    EXPECT_EQ(d.run.exit->Describe(), "exit 1") << flag << ": " << d.run.output;
    ASSERT_EQ(d.report["runs"].size(), 2u) << d.run.output;
    for (const auto& run : d.report["runs"]) {
      EXPECT_EQ(run["outcome"], "failed-to-start") << flag << ": " << run["detail"];
      EXPECT_THAT(run["log_tail"].dump(), HasSubstr("Address already in use"));
    }
  }
  (*other)->Stop();
}

// With --ready-url given, --ready-log was ignored.
TEST(DiagReadinessTest, EveryReadinessConditionGivenMustHold) {
  const auto d =
      RunWithReport({"--runs", "2", "--ready-url", "http://127.0.0.1:{port}/", "--ready-log", "Started HTTP listener",
                     "--", CALIBRATED_TARGET_PATH, "--http-port", "{port}", "--ready-after-ms", "600"});
  ASSERT_TRUE(d.run.exit) << d.run.output;
  EXPECT_EQ(d.run.exit->Describe(), "exit 0") << d.run.output;
  for (const auto& run : d.report["runs"]) {
    // The URL answers from the start; the line comes 600 ms later.
    ASSERT_TRUE(run["ready_ms"].is_number()) << run;
    EXPECT_GE(run["ready_ms"].get<double>(), 590.0);
  }
}

TEST(DiagReadinessTest, NeverReadySaysWhatItWaitedForAndWhatItLastSaw) {
  const auto silent =
      RunWithReport({"--runs", "1", "--ready-timeout", "700ms", "--", CALIBRATED_TARGET_PATH, "--no-listen"});
  ASSERT_EQ(silent.report["runs"].size(), 1u) << silent.run.output;
  const auto& run = silent.report["runs"][0];
  EXPECT_EQ(run["outcome"], "never-ready");
  EXPECT_THAT(run["detail"].get<std::string>(),
              HasSubstr("not ready within 700ms; waited for a TCP listener of the target's process tree (last seen: "
                        "the target's process tree listens on no TCP port)"));

  const auto wrong_port =
      RunWithReport({"--runs", "1", "--ready-timeout", "700ms", "--", CALIBRATED_TARGET_PATH, "--tag", "{port}"});
  ASSERT_EQ(wrong_port.report["runs"].size(), 1u) << wrong_port.run.output;
  EXPECT_THAT(wrong_port.report["runs"][0]["detail"].get<std::string>(),
              HasSubstr("(last seen: the target's process tree listens on 127.0.0.1:"));
}

TEST(DiagReadinessTest, RedisIsReadyAndAcknowledgesTheStopThroughTheNotifySocket) {
  const auto redis = SystemProgram("redis-server");
  CODER_REQUIRE_PROGRAM(redis, "redis-server");
  const auto d = RunWithReport({"--runs", "2", "--ready-notify", "--", redis, "--port", "{port}", "--bind", "127.0.0.1",
                                "--supervised", "systemd", "--save", "", "--appendonly", "no"});
  ASSERT_TRUE(d.run.exit) << d.run.output;
  EXPECT_EQ(d.run.exit->Describe(), "exit 0") << d.run.output;
  ASSERT_EQ(d.report["runs"].size(), 2u) << d.run.output;
  for (const auto& run : d.report["runs"]) {
    EXPECT_EQ(run["outcome"], "clean") << run["detail"];
    ASSERT_TRUE(run["stop_acknowledged_ms"].is_number()) << run;
    EXPECT_LE(run["stop_acknowledged_ms"].get<double>(), run["latency_ms"].get<double>());
  }
}

TEST(DiagReadinessTest, NodeServersAreReadyOnceTheyListenAndStopCleanly) {
  const auto node = SystemProgram("node");
  CODER_REQUIRE_PROGRAM(node, "nodejs");
  // One dies of SIGTERM's default action, the other closes its server and exits 0.
  const std::string serve =
      "const s = require('http').createServer((q, r) => r.end('ok'));"
      "s.listen(+process.env.PORT, '127.0.0.1');";
  const auto d = RunWithReport(
      {"--runs", "2", "--env", "PORT={port}", "--target", "plain=" + node + " -e \"" + serve + "\"", "--target",
       "graceful=" + node + " -e \"" + serve + " process.on('SIGTERM', () => s.close(() => process.exit(0)));\""});
  ASSERT_TRUE(d.run.exit) << d.run.output;
  EXPECT_EQ(d.run.exit->Describe(), "exit 0") << d.run.output;
  ASSERT_EQ(d.report["runs"].size(), 4u) << d.run.output;
  for (const auto& run : d.report["runs"]) {
    EXPECT_EQ(run["outcome"], "clean") << run["detail"];
    EXPECT_EQ(run["detail"], run["variant"] == "plain" ? "stopped by the default action of SIGTERM" : "exited 0");
  }
}

// A ready URL answering an endless chunk extension grew the harness to 4 GiB: the probe read the body.
TEST(DiagReadinessTest, AProbeReadsNoMoreThanABoundedHeaderWhateverTheServerSends) {
  const auto python = Python();
  CODER_REQUIRE_PROGRAM(python, "python3");
  auto server = [&](const std::string& head) {
    return "import os, socket\n"
           "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
           "s.bind(('127.0.0.1', int(os.environ['P']))); s.listen()\n"
           "while True:\n"
           "    c, _ = s.accept(); c.recv(4096)\n"
           "    try:\n"
           "        c.sendall(b'" +
           head +
           "')\n"
           "        while True: c.sendall(b'a' * 65536)\n"
           "    except OSError: c.close()\n";
  };
  struct Case {
    std::string head;
    std::string outcome;
    std::string detail;
  };
  for (const Case& c : {Case{"HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n1;", "clean", ""},
                        Case{"HTTP/1.1 200 OK\\r\\nX-Endless: ", "never-ready", "header limit"}}) {
    const auto d = RunWithReport({"--runs", "1", "--ready-timeout", "3s", "--env", "P={port}", "--ready-url",
                                  "http://127.0.0.1:{port}/", "--", python, "-c", server(c.head)});
    ASSERT_TRUE(d.run.exit) << d.run.output;
    ASSERT_EQ(d.report["runs"].size(), 1u) << d.run.output;
    EXPECT_EQ(d.report["runs"][0]["outcome"], c.outcome) << d.report["runs"][0]["detail"];
    EXPECT_THAT(d.report["runs"][0]["detail"].get<std::string>(), HasSubstr(c.detail));
    // The harness's own high-water mark (wait4 folds in its children's, python's some 10 MiB). Under
    // ASan freed memory stays resident in its quarantine (256 MiB by default): 360 MiB was seen there,
    // against 1.5 GiB of the unbounded read this guards against.
    EXPECT_LT(d.run.exit->max_rss_kib, (sanitizer::kAddress ? 640 : 200) * 1024) << c.head;
  }
}

// ---- Signals and exits ----

// `sh -c 'server; echo done'`: the signal reached only sh, sh died of it (counted clean), and the real
// server was SIGKILLed by the group clean-up with nothing recorded.
TEST(DiagSignalsTest, AWrapperThatDiesOfTheSignalIsNotCleanAndItsServerIsKilled) {
  const auto python = Python();
  CODER_REQUIRE_PROGRAM(python, "python3");
  const std::string marker = "wrapper-" + std::to_string(::getpid());
  const auto d = RunWithReport({"--runs", "2", "--", "sh", "-c",
                                python + " -m http.server {port} --bind 127.0.0.1 # " + marker + "\necho done"});
  ASSERT_TRUE(d.run.exit) << d.run.output;
  EXPECT_EQ(d.run.exit->Describe(), "exit 1") << d.run.output;
  ASSERT_EQ(d.report["runs"].size(), 2u) << d.run.output;
  for (const auto& run : d.report["runs"]) {
    EXPECT_EQ(run["outcome"], "left-processes") << run["detail"];
    EXPECT_EQ(run["left_processes"], 1);
    EXPECT_THAT(run["detail"].get<std::string>(), HasSubstr("the harness killed it"));
  }
  EXPECT_TRUE(ProcessesWith(marker).empty());
}

// A daemon that left the target's group and session outlived a clean stop, was killed silently at the
// end, and the run was clean: it is found by the run's marker in its environment.
TEST(DiagSignalsTest, ADaemonThatLeftTheGroupAndOutlivesTheStopIsNotClean) {
  for (const std::string to : {"leader", "group"}) {
    const auto d = RunWithReport({"--runs", "2", "--signal-to", to, "--kill-after", "1s", "--ready-log",
                                  "Started HTTP listener", "--", CALIBRATED_TARGET_PATH, "--daemon-grandchild"});
    ASSERT_EQ(d.report["runs"].size(), 2u) << d.run.output;
    for (const auto& run : d.report["runs"]) {
      if (to == "leader") {
        EXPECT_EQ(run["outcome"], "left-processes") << run["detail"];
        EXPECT_EQ(run["left_processes"], 1);
      } else {
        // systemd waits for the whole group: the daemon holds the stop until the watchdog.
        EXPECT_EQ(run["outcome"], "killed-by-watchdog") << run["detail"];
      }
    }
  }
}

TEST(DiagSignalsTest, SignalToTheGroupStopsTheServerBehindAWrapper) {
  const auto python = Python();
  CODER_REQUIRE_PROGRAM(python, "python3");
  const auto d = RunWithReport({"--runs", "2", "--signal-to", "group", "--", "sh", "-c",
                                python + " -m http.server {port} --bind 127.0.0.1; echo done"});
  ASSERT_TRUE(d.run.exit) << d.run.output;
  EXPECT_EQ(d.run.exit->Describe(), "exit 0") << d.run.output;
  EXPECT_EQ(d.report["meta"]["options"]["signal_to"], "group");
  for (const auto& run : d.report["runs"]) EXPECT_EQ(run["outcome"], "clean") << run["detail"];
}

// A target that printed its ready line and exited 0 at once was "clean" with a negative latency. An exit
// seen before the signal, a task already exiting when it went (PF_EXITING), or an exit code with the
// signal still pending in the zombie (no handler ran) is "not tested". A handler that runs while the
// target is already on its way out cannot be told apart from a 200 µs stop, so a share of such runs
// stays clean: never with a negative latency.
TEST(DiagSignalsTest, ATargetThatEndsByItselfBeforeTheSignalIsNotClean) {
  const auto d = RunWithReport({"--runs", "30", "--ready-log", "Started HTTP listener", "--", CALIBRATED_TARGET_PATH,
                                "--exit-after-ready", "0"});
  ASSERT_TRUE(d.run.exit) << d.run.output;
  EXPECT_EQ(d.run.exit->Describe(), "exit 1") << d.run.output;
  ASSERT_EQ(d.report["runs"].size(), 30u) << d.run.output;
  int not_tested = 0;
  for (const auto& run : d.report["runs"]) {
    if (run["outcome"] == "crashed") {
      EXPECT_THAT(run["detail"].get<std::string>(), HasSubstr("its stop was not tested"));
      EXPECT_TRUE(run["latency_ms"].is_null()) << run["latency_ms"];
      ++not_tested;
    } else {
      EXPECT_EQ(run["outcome"], "clean") << run["detail"];
      EXPECT_GE(run["latency_ms"].get<double>(), 0.0);
    }
  }
  EXPECT_GT(not_tested, 0);
}

TEST(DiagSignalsTest, ExitingWith128PlusTheSignalIsCleanUnlessTheCodesSayOtherwise) {
  const std::vector<std::string> target = {"--", CALIBRATED_TARGET_PATH, "--exit-code", "143"};
  std::vector<std::string> args = {"--runs", "1"};
  args.insert(args.end(), target.begin(), target.end());
  const auto jvm_like = RunWithReport(args);
  ASSERT_EQ(jvm_like.report["runs"].size(), 1u) << jvm_like.run.output;
  EXPECT_EQ(jvm_like.report["runs"][0]["outcome"], "clean") << jvm_like.report["runs"][0]["detail"];

  args = {"--runs", "1", "--clean-exit-codes", "0"};
  args.insert(args.end(), target.begin(), target.end());
  const auto strict = RunWithReport(args);
  ASSERT_EQ(strict.report["runs"].size(), 1u) << strict.run.output;
  EXPECT_EQ(strict.report["runs"][0]["outcome"], "crashed");
  EXPECT_EQ(strict.report["runs"][0]["detail"], "exited with status 143");
}

// ---- Per-run set-up ----

TEST(DiagSetupTest, EnvironmentValuesGetTheRunsPort) {
  const auto python = Python();
  CODER_REQUIRE_PROGRAM(python, "python3");
  // Repeatable options took every word after them, the target's -c included.
  const auto d =
      RunWithReport({"--runs", "2", "--parallel", "2", "--env", "HTTP_PORT={port}", "--fingerprint", "oops=Traceback",
                     "--", "sh", "-c", "exec " + python + " -m http.server \"$HTTP_PORT\" --bind 127.0.0.1"});
  ASSERT_TRUE(d.run.exit) << d.run.output;
  EXPECT_EQ(d.run.exit->Describe(), "exit 0") << d.run.output;
  for (const auto& run : d.report["runs"]) EXPECT_EQ(run["outcome"], "clean") << run["detail"];
}

// nginx's workers run as nobody: in a 0700 directory they serve 403 for every file, and a run that did
// not check would test an error page.
TEST(DiagSetupTest, ATemplateRendersNginxsConfigIntoAReadableRunDirectory) {
  const auto nginx = SystemProgram("nginx");
  CODER_REQUIRE_PROGRAM(nginx, "nginx-light");
  TempDir dir;
  const auto conf = dir.path() / "nginx.conf";
  std::ofstream(conf) << "worker_processes 2;\ndaemon off;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\n"
                         "events { worker_connections 64; }\nhttp {\n  access_log off;\n"
                         "  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n"
                         "  server { listen 127.0.0.1:{port}; root {dir}/www; }\n}\n";
  std::ofstream(dir.path() / "index.html") << "hello\n";
  const std::vector<std::string> common = {"--runs",          "2",
                                           "--ready-timeout", "3s",
                                           "--template",      conf.string() + ":nginx.conf",
                                           "--template",      (dir.path() / "index.html").string() + ":www/index.html",
                                           "--ready-url",     "http://127.0.0.1:{port}/index.html",
                                           "--signal",        "QUIT"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = common;
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {std::string("--"), nginx, std::string("-p"), std::string("{dir}"), std::string("-c"),
                             std::string("{dir}/nginx.conf")});
    return RunWithReport(args);
  };
  const auto readable = with({"--dir-mode", "0755"});
  ASSERT_TRUE(readable.run.exit) << readable.run.output;
  EXPECT_EQ(readable.run.exit->Describe(), "exit 0") << readable.run.output;
  for (const auto& run : readable.report["runs"]) {
    EXPECT_EQ(run["outcome"], "clean") << run["detail"];
    // A master and two workers, sampled at ready.
    EXPECT_GT(run["tree_peak_rss_bytes"].get<uint64_t>(), 3u << 20);
  }
  const auto private_dir = with({});
  ASSERT_EQ(private_dir.report["runs"].size(), 2u) << private_dir.run.output;
  for (const auto& run : private_dir.report["runs"]) {
    EXPECT_EQ(run["outcome"], "never-ready");
    EXPECT_THAT(run["detail"].get<std::string>(), HasSubstr("last seen: status 403"));
  }
}

TEST(DiagSetupTest, BadSetUpFlagsAreUsageErrors) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--template", "/no/such/file:x.conf"}, "is not a readable regular file"},
      {{"--template", "/etc/hostname:../escape"}, "must be a relative path inside the run's directory"},
      {{"--dir-mode", "0777"}, "must not be writable by group or others"},
      {{"--dir-mode", "9"}, "is not an octal mode"},
      {{"--env", "=x"}, "want NAME=VALUE"},
      {{"--signal-to", "everyone"}, "is not leader or group"},
      {{"--clean-exit-codes", "0,300"}, "is not an exit code"},
      {{"--ready-tcp", "localhost"}, "want HOST:PORT"},
      {{"--ready-url", "http://127.0.0.1:{port}x/"}, "has no valid port"},
  };
  for (const auto& [flags, message] : cases) {
    std::vector<std::string> args = flags;
    args.insert(args.end(), {"--", CALIBRATED_TARGET_PATH});
    const auto r = RunDiag(args, 20s);
    ASSERT_TRUE(r.exit);
    EXPECT_EQ(r.exit->Describe(), "exit 2") << flags.front() << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr(message)) << flags.front();
  }
}

}  // namespace
}  // namespace coder::e2e
