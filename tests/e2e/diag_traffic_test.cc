// `coder diag shutdown --client/--load`: traffic held through the stop of real servers (the built-in
// one, nginx, Node, Python), each request given one fate, and the findings that fate gates on.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <string_view>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/foreign_servers.h"
#include "tests/e2e/report_files.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;

using Diag = DiagWithReport;

Diag RunWithReport(std::vector<std::string> args, std::chrono::milliseconds timeout = 90s) {
  return RunDiagWithReport(std::move(args), timeout);
}

uint64_t U(const json& j, const char* key) { return j.at(key).get<uint64_t>(); }

/// `text` written to `dir`/`name`: a server script the test runs.
std::filesystem::path WriteScript(const TempDir& dir, const std::string& name, std::string_view text) {
  const auto path = dir.path() / name;
  std::ofstream(path) << text;
  return path;
}

/// Every request a run's traffic tried has exactly one fate.
void ExpectOneFateEach(const json& traffic) {
  auto total = [](const json& r) {
    uint64_t n = 0;
    for (const char* k : {"answered_before", "answered_after", "refused", "closed_before_read", "dropped",
                          "open_at_exit", "open_at_watchdog", "error"})
      n += U(r, k);
    return n;
  };
  for (const auto& c : traffic.at("clients")) EXPECT_EQ(total(c.at("requests")), U(c.at("requests"), "tried"));
  if (!traffic.at("load").is_null()) {
    const json& r = traffic.at("load").at("requests");
    EXPECT_EQ(total(r), U(r, "tried"));
  }
}

std::vector<std::string> FindingKinds(const json& report) {
  std::vector<std::string> kinds;
  for (const auto& f : report.at("gate").at("findings"))
    if (f.at("gated").get<bool>()) kinds.push_back(f.at("kind").get<std::string>());
  return kinds;
}

// ---- The built-in server ----

TEST(DiagTrafficTest, ThePatchedBuiltinServerClosesEveryWebsocketAndAnswersEveryRequest) {
  const auto d = RunWithReport({"--runs", "2", "--gateway", "on", "--shutdown-order", "patched", "--hold", "200ms",
                                "--client", "websocket:5", "--client", "idle:2", "--load", "500/s:/healthz"});
  ASSERT_TRUE(d.run.exit) << d.run.output;
  EXPECT_EQ(d.run.exit->Describe(), "exit 0") << d.run.output;
  EXPECT_THAT(d.run.output, HasSubstr("Traffic during the stop"));
  ASSERT_EQ(d.report.at("runs").size(), 2u) << d.run.output;
  for (const auto& run : d.report.at("runs")) {
    EXPECT_EQ(run.at("outcome"), "clean") << run.at("detail");
    const json& t = run.at("traffic");
    EXPECT_TRUE(t.at("established").get<bool>()) << t.at("establish_detail");
    ExpectOneFateEach(t);
    const json& ws = t.at("clients").at(0);
    EXPECT_EQ(ws.at("path"), "/api/v2/notifications/watch");  // the built-in server's endpoint by default
    EXPECT_EQ(U(ws, "established"), 5u);
    EXPECT_EQ(ws.at("websocket_close_codes"), json({{"1001", 5}}));
    const json& load = t.at("load");
    EXPECT_EQ(U(load.at("requests"), "dropped"), 0u);
    EXPECT_EQ(U(load.at("requests"), "error"), 0u) << load.at("first_error");
    // 200 ms of hold at 500/s: about a hundred answered before the signal.
    EXPECT_GT(U(load.at("requests"), "answered_before"), 20u);
    EXPECT_EQ(load.at("statuses").at("200").get<uint64_t>(),
              U(load.at("requests"), "answered_before") + U(load.at("requests"), "answered_after"));
  }
  const json& summary = d.report.at("variants").at(0).at("summary").at("traffic");
  EXPECT_EQ(U(summary, "runs"), 2u);
  EXPECT_EQ(summary.at("websocket_close_codes"), json({{"1001", 10}}));
}

// The unpatched order closes the listener, then waits on the slot the daemon holds: the load meets a
// closed port for the whole wait, which is refused (never reached the server), not dropped.
TEST(DiagTrafficTest, TheUnpatchedBuiltinServerRefusesTheLoadDuringItsWaitAndDropsNothing) {
  const auto d =
      RunWithReport({"--runs", "1", "--gateway", "on", "--shutdown-order", "unpatched", "--websocket-shutdown-timeout",
                     "1s", "--client", "websocket:3", "--load", "500/s:/healthz"});
  ASSERT_TRUE(d.run.exit) << d.run.output;
  EXPECT_EQ(d.run.exit->Describe(), "exit 0") << d.run.output;  // the unpatched order is a baseline
  const json& run = d.report.at("runs").at(0);
  EXPECT_EQ(run.at("outcome"), "timeout-fingerprint") << run.at("detail");
  EXPECT_THAT(run.at("fingerprints"), ::testing::Contains("websocket-shutdown-timeout"));  // the wait, named
  const json& t = run.at("traffic");
  ExpectOneFateEach(t);
  EXPECT_EQ(U(t.at("load").at("requests"), "dropped"), 0u);
  // A one-second wait at 500/s: hundreds refused; the margin is wide.
  EXPECT_GT(U(t.at("load").at("requests"), "refused"), 50u);
  EXPECT_EQ(t.at("clients").at(0).at("websocket_close_codes"), json({{"1001", 3}}));
}

// A websocket that never upgrades tested nothing: the run says so and fails, even in a baseline.
TEST(DiagTrafficTest, AWebsocketToAPathThatDoesNotUpgradeIsClientsNotEstablishedAndFails) {
  const auto d = RunWithReport({"--runs", "1", "--shutdown-order", "unpatched", "--websocket-shutdown-timeout", "1s",
                                "--client", "websocket:2:/no/such/socket"});
  ASSERT_TRUE(d.run.exit) << d.run.output;
  EXPECT_EQ(d.run.exit->Describe(), "exit 1") << d.run.output;
  const json& run = d.report.at("runs").at(0);
  EXPECT_EQ(run.at("outcome"), "clients-not-established");
  EXPECT_THAT(run.at("detail").get<std::string>(), HasSubstr("0 of 2 established"));
  EXPECT_THAT(run.at("detail").get<std::string>(), HasSubstr("404"));
  EXPECT_THAT(FindingKinds(d.report), ::testing::Contains("clients"));
}

// ---- nginx ----

/// nginx serving `root` (with a 64 MiB file, larger than any socket buffer, so a download is still in
/// flight at the signal) on {port}.
class NginxTraffic : public ::testing::Test {
 protected:
  void SetUp() override {
    nginx_ = SystemProgram("nginx");
    CODER_REQUIRE_PROGRAM(nginx_, "nginx-light");
    // nginx's workers run as nobody: the files they serve must be readable by anyone.
    ::chmod(dir_.path().c_str(), 0755);
    std::filesystem::create_directory(dir_.path() / "www");
    ::chmod((dir_.path() / "www").c_str(), 0755);
    { std::ofstream big(dir_.path() / "www" / "big"); }
    std::filesystem::resize_file(dir_.path() / "www" / "big", 64u << 20);
    std::ofstream(dir_.path() / "www" / "index.html") << "hello\n";
    ::chmod((dir_.path() / "www" / "big").c_str(), 0644);
    ::chmod((dir_.path() / "www" / "index.html").c_str(), 0644);
    conf_ = dir_.path() / "nginx.conf";
    std::ofstream(conf_) << "worker_processes 1;\ndaemon off;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\n"
                            "events { worker_connections 256; }\nhttp {\n  access_log off;\n"
                            "  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n"
                            "  server { listen 127.0.0.1:{port}; root "
                         << (dir_.path() / "www").string() << "; }\n}\n";
  }

  Diag Run(std::vector<std::string> args) {
    const std::vector<std::string> common = {"--runs",     "1",    "--template",  conf_.string() + ":nginx.conf",
                                             "--dir-mode", "0755", "--ready-url", "http://127.0.0.1:{port}/index.html"};
    args.insert(args.begin(), common.begin(), common.end());
    // A 64 MiB download on a loaded machine may take a second: no latency is taken for a timeout here.
    args.insert(args.end(), {"--known-timeouts", "", "--", nginx_, "-p", "{dir}", "-c", "{dir}/nginx.conf"});
    return RunWithReport(args);
  }

  TempDir dir_;
  std::string nginx_;
  std::filesystem::path conf_;
};

// QUIT is nginx's graceful stop: the download in flight finishes first.
TEST_F(NginxTraffic, AGracefulStopFinishesTheDownloadInFlight) {
  const auto d = Run({"--signal", "QUIT", "--client", "inflight:1:/big"});
  ASSERT_TRUE(d.run.exit) << d.run.output;
  EXPECT_EQ(d.run.exit->Describe(), "exit 0") << d.run.output;
  const json& run = d.report.at("runs").at(0);
  EXPECT_EQ(run.at("outcome"), "clean") << run.at("detail");
  const json& inflight = run.at("traffic").at("clients").at(0);
  EXPECT_EQ(U(inflight, "established"), 1u);
  EXPECT_EQ(U(inflight.at("requests"), "answered_after"), 1u);
  EXPECT_EQ(U(inflight.at("requests"), "dropped"), 0u);
  ExpectOneFateEach(run.at("traffic"));
}

// nginx's graceful stop waits for a connected client that has sent nothing (until client_header_timeout,
// 60 s): the hang snapshot at the watchdog names the worker's connection and the harness's client on it.
TEST_F(NginxTraffic, AGracefulStopHeldByASilentClientNamesTheConnectionThatHoldsIt) {
  const auto d = Run({"--signal", "QUIT", "--kill-after", "2s", "--client", "silent:1"});
  ASSERT_TRUE(d.run.exit) << d.run.output;
  EXPECT_EQ(d.run.exit->Describe(), "exit 1") << d.run.output;
  const json& run = d.report.at("runs").at(0);
  EXPECT_EQ(run.at("outcome"), "killed-by-watchdog") << run.at("detail");
  const json& hang = run.at("hang");
  ASSERT_TRUE(hang.is_object()) << run.dump();
  EXPECT_EQ(hang.at("taken_at"), "watchdog");
  EXPECT_THAT(hang.at("verdict").get<std::string>(), AllOf(HasSubstr("1 connection open: ESTABLISHED 127.0.0.1:"),
                                                           HasSubstr("(the harness's silent client /)")));
  size_t held = 0;
  for (const json& s : hang.at("sockets"))
    if (s.at("held_by") == "the harness's silent client /") ++held;
  EXPECT_EQ(held, 1u) << hang.dump();
  EXPECT_GE(hang.at("processes").size(), 2u) << "the master and its worker";
  EXPECT_THAT(d.run.output, HasSubstr("where it hung (at the watchdog"));
}

// TERM is nginx's fast stop: it cuts the download, a request it took and never answered whole.
TEST_F(NginxTraffic, AFastStopDropsTheDownloadInFlightAndFails) {
  const auto d = Run({"--signal", "TERM", "--client", "inflight:1:/big"});
  ASSERT_TRUE(d.run.exit) << d.run.output;
  EXPECT_EQ(d.run.exit->Describe(), "exit 1") << d.run.output;
  const json& run = d.report.at("runs").at(0);
  const json& inflight = run.at("traffic").at("clients").at(0);
  EXPECT_EQ(U(inflight.at("requests"), "dropped"), 1u);
  EXPECT_THAT(FindingKinds(d.report), ::testing::Contains("dropped"));
  EXPECT_THAT(d.run.output, HasSubstr("dropped"));
}

// ---- Node ----

/// A Node server whose SIGTERM handler calls server.close(): it stops accepting and waits for every
/// connection to end. Node 19+ closes idle keep-alive connections at once; a connection that never
/// sent a request it leaves open.
std::filesystem::path NodeServer(const TempDir& dir) {
  return WriteScript(dir, "server.js",
                     "const http = require('http');\n"
                     "const server = http.createServer((req, res) => res.end('ok'));\n"
                     "server.listen(Number(process.argv[2]), '127.0.0.1');\n"
                     "process.on('SIGTERM', () => server.close(() => process.exit(0)));\n");
}

TEST(DiagTrafficNodeTest, ASilentConnectionHoldsServerCloseUntilTheWatchdogAndIsNamed) {
  const auto node = SystemProgram("node");
  CODER_REQUIRE_PROGRAM(node, "nodejs");
  TempDir dir;
  const auto script = NodeServer(dir);
  const auto silent = RunWithReport(
      {"--runs", "1", "--kill-after", "2s", "--client", "silent:2", "--", node, script.string(), "{port}"});
  ASSERT_TRUE(silent.run.exit) << silent.run.output;
  EXPECT_EQ(silent.run.exit->Describe(), "exit 1") << silent.run.output;
  const json& run = silent.report.at("runs").at(0);
  EXPECT_EQ(run.at("outcome"), "killed-by-watchdog");
  EXPECT_EQ(U(run.at("traffic").at("clients").at(0).at("connections"), "open_at_watchdog"), 2u);
  EXPECT_THAT(FindingKinds(silent.report), ::testing::Contains("held-by-client"));
  EXPECT_THAT(silent.run.output, HasSubstr("silent connection"));
  // The hang snapshot, taken before the kill, names both connections and whose they are.
  EXPECT_THAT(run.at("hang").at("verdict").get<std::string>(),
              AllOf(HasSubstr("2 connections open"), HasSubstr("(the harness's silent client /)")))
      << run.at("hang").dump();

  const auto idle = RunWithReport(
      {"--runs", "1", "--kill-after", "10s", "--client", "idle:2", "--", node, script.string(), "{port}"});
  ASSERT_TRUE(idle.run.exit) << idle.run.output;
  EXPECT_EQ(idle.run.exit->Describe(), "exit 0") << idle.run.output;
  const json& idle_run = idle.report.at("runs").at(0);
  EXPECT_EQ(idle_run.at("outcome"), "clean") << idle_run.at("detail");
  EXPECT_EQ(U(idle_run.at("traffic").at("clients").at(0).at("connections"), "closed"), 2u);
}

// ---- Python ----

/// A Python server with a slow path that sends half its answer and then blocks reading the connection,
/// which the harness's client never writes to again; SIGTERM kills Python at once (no handler), so the
/// half answer is all the client ever gets.
std::filesystem::path PythonSlowServer(const TempDir& dir) {
  return WriteScript(dir, "slow.py",
                     "import http.server, sys\n"
                     "class H(http.server.BaseHTTPRequestHandler):\n"
                     "    protocol_version = 'HTTP/1.1'\n"
                     "    def log_message(self, *args): pass\n"
                     "    def do_GET(self):\n"
                     "        body = b'hello world'\n"
                     "        self.send_response(200)\n"
                     "        self.send_header('Content-Length', str(len(body)))\n"
                     "        self.end_headers()\n"
                     "        if self.path == '/slow':\n"
                     "            self.wfile.write(body[:5]); self.wfile.flush(); self.rfile.read(1)\n"
                     "        self.wfile.write(body)\n"
                     "http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n");
}

TEST(DiagTrafficPythonTest, AServerKilledMidAnswerDropsTheRequest) {
  const auto python = SystemProgram("python3");
  CODER_REQUIRE_PROGRAM(python, "python3");
  TempDir dir;
  const auto script = PythonSlowServer(dir);
  const auto d = RunWithReport(
      {"--runs", "1", "--client", "inflight:1:/slow", "--load", "200/s:/", "--", python, script.string(), "{port}"});
  ASSERT_TRUE(d.run.exit) << d.run.output;
  EXPECT_EQ(d.run.exit->Describe(), "exit 1") << d.run.output;
  const json& t = d.report.at("runs").at(0).at("traffic");
  EXPECT_EQ(U(t.at("clients").at(0).at("requests"), "dropped"), 1u);
  ExpectOneFateEach(t);
  EXPECT_THAT(FindingKinds(d.report), ::testing::Contains("dropped"));
}

// Two targets at once (closed loop, then open), each on its own {port}: each run's traffic goes to its
// own target.
TEST(DiagTrafficPythonTest, ParallelAndOpenLoopRunsSendTheirTrafficToTheirOwnPort) {
  const auto python = SystemProgram("python3");
  CODER_REQUIRE_PROGRAM(python, "python3");
  TempDir dir;
  const auto script = PythonSlowServer(dir);
  const auto d = RunWithReport({"--runs", "4", "--parallel", "2", "--client", "idle:2", "--client-url",
                                "http://127.0.0.1:{port}", "--", python, script.string(), "{port}"});
  ASSERT_TRUE(d.run.exit) << d.run.output;
  EXPECT_EQ(d.run.exit->Describe(), "exit 0") << d.run.output;
  std::set<std::string> urls;
  for (const auto& run : d.report.at("runs")) {
    EXPECT_EQ(run.at("outcome"), "clean") << run.at("detail");
    EXPECT_EQ(U(run.at("traffic").at("clients").at(0), "established"), 2u);
    urls.insert(run.at("traffic").at("url").get<std::string>());
  }
  EXPECT_EQ(urls.size(), 4u);  // four runs, four ports

  // The open loop: a target launched every 50 ms whether or not the last one stopped.
  const auto open_loop = RunWithReport(
      {"--runs", "3", "--arrival-interval", "50ms", "--client", "idle:1", "--", python, script.string(), "{port}"});
  ASSERT_TRUE(open_loop.run.exit) << open_loop.run.output;
  EXPECT_EQ(open_loop.run.exit->Describe(), "exit 0") << open_loop.run.output;
  for (const auto& run : open_loop.report.at("runs")) {
    EXPECT_EQ(run.at("outcome"), "clean") << run.at("detail");
    EXPECT_EQ(U(run.at("traffic").at("clients").at(0), "established"), 1u);
  }
}

// ---- Go ----

// net/http with a slow path that sends its header and half its body, then finishes 300 ms later
// (under Shutdown's 500 ms poll, away from the known timeouts). On SIGTERM it calls Shutdown, which
// waits for the request in flight; `wait` makes main wait for Shutdown too. Without it main returns as
// soon as ListenAndServe does, the common mistake that ends the requests Shutdown is still draining.
constexpr const char* kDrainingGoServer = R"GO(package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "11")
		w.WriteHeader(200)
		w.Write([]byte("hello"))
		w.(http.Flusher).Flush()
		time.Sleep(300 * time.Millisecond)
		w.Write([]byte(" world"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	srv := &http.Server{Addr: "127.0.0.1:" + os.Args[1], Handler: mux}
	drained := make(chan struct{})
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		close(drained)
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Println(err)
		os.Exit(1)
	}
	// ListenAndServe returns as soon as Shutdown begins: returning from main here, as many servers do,
	// would end the requests Shutdown is still waiting for.
	if len(os.Args) > 2 && os.Args[2] == "wait" {
		<-drained
	}
}
)GO";

TEST(DiagTrafficGoTest, ShutdownDrainsTheRequestInFlightAndAMainThatReturnsAtOnceDropsIt) {
  TempDir dir;
  const GoBuild built = BuildGoProgram(dir.path(), "drain", kDrainingGoServer);
  if (built.skip) GTEST_SKIP() << built.why;
  ASSERT_TRUE(built.binary) << built.why;
  const std::string server = built.binary->string();
  const auto drains = RunWithReport(
      {"--runs", "2", "--client", "inflight:1:/slow", "--load", "300/s:/", "--", server, "{port}", "wait"});
  ASSERT_TRUE(drains.run.exit) << drains.run.output;
  EXPECT_EQ(drains.run.exit->Describe(), "exit 0") << drains.run.output;
  for (const auto& run : drains.report.at("runs")) {
    EXPECT_EQ(run.at("outcome"), "clean") << run.at("detail");
    const json& t = run.at("traffic");
    EXPECT_EQ(U(t.at("clients").at(0).at("requests"), "answered_after"), 1u);
    EXPECT_EQ(U(t.at("load").at("requests"), "dropped"), 0u);
    ExpectOneFateEach(t);
  }

  const auto returns = RunWithReport({"--runs", "1", "--client", "inflight:1:/slow", "--", server, "{port}"});
  ASSERT_TRUE(returns.run.exit) << returns.run.output;
  EXPECT_EQ(returns.run.exit->Describe(), "exit 1") << returns.run.output;
  EXPECT_EQ(U(returns.report.at("runs").at(0).at("traffic").at("clients").at(0).at("requests"), "dropped"), 1u);
  EXPECT_THAT(FindingKinds(returns.report), ::testing::Contains("dropped"));
}

// ---- Bad flags ----

TEST(DiagTrafficTest, BadTrafficFlagsAreUsageErrorsThatSayWhy) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--client", "sleepy:1"}, "unknown kind \"sleepy\""},
      {{"--client", "idle:0"}, "is not a whole number from 1 to"},
      {{"--load", "0/s"}, "--load \"0/s\""},
      {{"--load", "100/s", "--load-connections", "0"}, "--load-connections 0"},
      {{"--client", "idle:1", "--client-header", "no-colon"}, "--client-header"},
      {{"--client-url", "http://127.0.0.1:1"}, "need traffic to apply to"},
      {{"--client", "idle:1", "--client-timeout", "0s"}, "--client-timeout 0s"},
      {{"--client", "idle:1", "--", "sh", "-c", "sleep 100"}, "no URL to send the traffic to"},
  };
  for (const auto& [args, message] : cases) {
    const auto r = RunDiag(args, 20s);
    ASSERT_TRUE(r.exit) << r.output;
    EXPECT_EQ(r.exit->Describe(), "exit 2") << args.at(0) << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr(message)) << args.at(0);
  }
}

}  // namespace
}  // namespace coder::e2e
