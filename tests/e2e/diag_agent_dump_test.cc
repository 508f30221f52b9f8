// `coder diag shutdown --stack-after` on hung Python and Node.js servers: the agents armed at the launch
// (an injected sitecustomize, NODE_OPTIONS) answer a signal with the stacks in the language's own terms.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/foreign_servers.h"
#include "tests/e2e/report_files.h"

namespace coder::e2e {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::filesystem::path Write(const TempDir& dir, const std::string& name, const std::string& text) {
  const auto path = dir.path() / name;
  std::ofstream(path) << text;
  return path;
}

// Its SIGTERM handler joins a worker that waits on an event nobody sets: the stop never ends.
constexpr const char* kJoinServer = R"(import signal, socket, sys, threading
stop = threading.Event()
def worker():
    stop.wait()
rpc = threading.Thread(target=worker, name="rpc")
rpc.start()
def on_term(signum, frame):
    print("stopping", flush=True)
    rpc.join()
signal.signal(signal.SIGTERM, on_term)
ln = socket.socket()
ln.bind(("127.0.0.1", int(sys.argv[1])))
ln.listen()
print("listening", flush=True)
while True:
    signal.pause()
)";

class DiagPythonDumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    python_ = SystemProgram("python3");
    CODER_REQUIRE_PROGRAM(python_, "python3");
    script_ = Write(dir_, "server.py", kJoinServer);
  }
  OneRun Run(std::vector<std::string> flags, std::vector<std::string> python_args = {}) {
    std::vector<std::string> args = {"--stack-after", "300ms", "--kill-after", "3s", "--ready-log", "listening"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {"--", python_});
    args.insert(args.end(), python_args.begin(), python_args.end());
    args.insert(args.end(), {script_.string(), "{port}"});
    return RunOnce(std::move(args));
  }
  TempDir dir_;
  std::string python_;
  std::filesystem::path script_;
};

TEST_F(DiagPythonDumpTest, AHungPythonServersReportNamesTheJoinAndTheThreadItWaitsFor) {
  const auto markdown = dir_.path() / "report.md";
  const auto [r, j, run] = Run({"--markdown", markdown.string()});
  ASSERT_TRUE(run.is_object()) << r.output;
  EXPECT_EQ(run["outcome"], "killed-by-watchdog") << run.dump(2);
  // Python keeps running after its dump: the watchdog ends the run, not the dump.
  EXPECT_EQ(run["ended_by_dump"], false);
  const json* dump = DumpOf(run, "faulthandler");
  ASSERT_NE(dump, nullptr) << run.dump(2);
  EXPECT_EQ((*dump)["runtime"], "python");
  EXPECT_EQ((*dump)["error"], "");
  EXPECT_THAT((*dump)["text"].get<std::string>(), HasSubstr("Thread 0x"));
  const std::string verdict = (*dump)["verdict"].get<std::string>();
  EXPECT_THAT(verdict, StartsWith("main thread in threading.join from on_term (server.py:9)")) << verdict;
  EXPECT_THAT(verdict, HasSubstr("1 other thread in threading.wait from worker (server.py:4)")) << verdict;
  EXPECT_THAT(run["hang"]["verdict"].get<std::string>(), StartsWith("Python threads of pid "));
  // Its Python frames answered for it: no debugger was attached.
  EXPECT_FALSE(HasNativeStacksOf(run, (*dump)["pid"])) << run.dump(2);
  EXPECT_THAT(ReadText(markdown), HasSubstr("threading.join from on_term"));
}

TEST_F(DiagPythonDumpTest, TheTargetsOwnSitecustomizeStillRuns) {
  TempDir own;
  Write(own, "sitecustomize.py", "print('own sitecustomize ran', flush=True)\n");
  const auto [r, j, run] = Run({"--env", "PYTHONPATH=" + own.path().string()});
  ASSERT_TRUE(run.is_object()) << r.output;
  bool ran = false;
  for (const json& line : run["log"]["lines"]) ran = ran || line[2] == "own sitecustomize ran";
  EXPECT_TRUE(ran) << run["log"].dump(2);
  const json* dump = DumpOf(run, "faulthandler");
  ASSERT_NE(dump, nullptr) << run.dump(2);
  EXPECT_THAT((*dump)["verdict"].get<std::string>(), StartsWith("main thread in threading.join"));
}

TEST_F(DiagPythonDumpTest, AnIsolatedInterpreterIsNotAskedAndNativeStacksStandIn) {
  const auto [r, j, run] = Run({}, {"-I"});
  ASSERT_TRUE(run.is_object()) << r.output;
  EXPECT_EQ(run["outcome"], "killed-by-watchdog") << run.dump(2);
  const json* dump = DumpOf(run, "faulthandler");
  ASSERT_NE(dump, nullptr) << run.dump(2);
  EXPECT_THAT((*dump)["error"].get<std::string>(), HasSubstr("does not catch SIGRTMIN+6"));
  EXPECT_EQ((*dump)["text"], "");
  EXPECT_TRUE(HasNativeStacksOf(run, (*dump)["pid"])) << run.dump(2);
}

// Node's http server.close() waits for every connection to end; the harness's inflight client holds one
// with half an answer.
constexpr const char* kInflightServer = R"(const http = require('http');
const server = http.createServer((req, res) => {
  res.writeHead(200, {'Content-Length': '10'});
  res.write('hello');
});
server.listen(Number(process.argv[2]), '127.0.0.1', () => console.log('listening'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
)";

class DiagNodeDumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = SystemProgram("node");
    CODER_REQUIRE_PROGRAM(node_, "nodejs");
  }
  TempDir dir_;
  std::string node_;
};

TEST_F(DiagNodeDumpTest, AHungNodeServersReportNamesTheConnectionThatHoldsIt) {
  const auto script = Write(dir_, "server.js", kInflightServer);
  const auto [r, j, run] = RunOnce({"--stack-after", "300ms", "--kill-after", "3s", "--ready-log", "listening",
                                    "--client", "inflight:1", "--", node_, script.string(), "{port}"});
  ASSERT_TRUE(run.is_object()) << r.output;
  EXPECT_EQ(run["outcome"], "killed-by-watchdog") << run.dump(2);
  EXPECT_EQ(run["ended_by_dump"], false);
  const json* dump = DumpOf(run, "node-report");
  ASSERT_NE(dump, nullptr) << run.dump(2);
  EXPECT_EQ((*dump)["runtime"], "node");
  EXPECT_EQ((*dump)["error"], "");
  const std::string verdict = (*dump)["verdict"].get<std::string>();
  EXPECT_THAT(verdict, StartsWith("event loop idle; held by 1 open connection 127.0.0.1:")) << verdict;
  // The connection it names is the harness's own inflight client's.
  std::string client;
  for (const json& s : run["hang"]["sockets"])
    if (s.value("held_by", "").find("inflight") != std::string::npos) client = s["remote"];
  ASSERT_FALSE(client.empty()) << run["hang"].dump(2);
  EXPECT_THAT(verdict, HasSubstr("← " + client));
  EXPECT_THAT(run["hang"]["verdict"].get<std::string>(), StartsWith("Node.js of pid "));
  EXPECT_FALSE(HasNativeStacksOf(run, (*dump)["pid"])) << run.dump(2);
  // The report's environment is never copied into the record.
  EXPECT_THAT((*dump)["text"].get<std::string>(), Not(HasSubstr("environmentVariables")));
}

// A report is written from the event loop: JavaScript spinning in the SIGTERM handler never gets there.
// The harness waits its answer timeout, says why, and takes native stacks instead.
TEST_F(DiagNodeDumpTest, ANodeServerBusyInJavaScriptIsRecordedAsNotAnswering) {
  const auto script = Write(
      dir_, "busy.js",
      "require('net').createServer().listen(Number(process.argv[2]), '127.0.0.1', () => console.log('listening'));\n"
      "process.on('SIGTERM', () => { for (;;) {} });\n");
  const auto [r, j, run] = RunOnce({"--stack-after", "300ms", "--kill-after", "4s", "--ready-log", "listening", "--",
                                    node_, script.string(), "{port}"});
  ASSERT_TRUE(run.is_object()) << r.output;
  EXPECT_EQ(run["outcome"], "killed-by-watchdog") << run.dump(2);
  const json* dump = DumpOf(run, "node-report");
  ASSERT_NE(dump, nullptr) << run.dump(2);
  EXPECT_THAT((*dump)["error"].get<std::string>(), HasSubstr("no report within 2000 ms of SIGPWR"));
  EXPECT_TRUE(HasNativeStacksOf(run, (*dump)["pid"])) << run.dump(2);
}

}  // namespace
}  // namespace coder::e2e
