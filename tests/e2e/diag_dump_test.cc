// `coder diag shutdown --stack-after` with --dump: a hung Go server's report says where it hangs in
// goroutines (SIGQUIT, GOTRACEBACK=all), read off its stderr apart from its log.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <optional>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/foreign_servers.h"
#include "tests/e2e/report_files.h"

namespace coder::e2e {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// The motivating hang in Go: Close waits on a wait group whose slot serveRPC holds until a stop
// channel nobody closes. Standard library only.
constexpr const char* kWaitGroupServer = R"(package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

type API struct{ wg sync.WaitGroup }

func (a *API) serveRPC(stop chan struct{}) {
	defer a.wg.Done()
	<-stop
}

func (a *API) CreateInMemoryAIBridgeServer() chan struct{} {
	stop := make(chan struct{})
	a.wg.Add(1)
	go a.serveRPC(stop)
	return stop
}

func (a *API) Close() {
	done := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Hour):
	}
}

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	api := &API{}
	_ = api.CreateInMemoryAIBridgeServer()
	if len(os.Args) > 2 && os.Args[2] == "catch-quit" {
		signal.Notify(make(chan os.Signal, 1), syscall.SIGQUIT)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	fmt.Println("wait-group server listening")
	<-stop
	fmt.Println("stopping")
	api.Close()
}
)";

class DiagDumpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test_support::TempDir("go-dump");
    build_ = new GoBuild(BuildGoProgram(dir_->path(), "waitgroup", kWaitGroupServer));
  }
  static void TearDownTestSuite() {
    delete build_;
    delete dir_;
  }
  void SetUp() override {
    if (build_->skip) GTEST_SKIP() << build_->why;
    ASSERT_TRUE(build_->binary) << build_->why;
  }
  static std::string Server() { return build_->binary->string(); }

  static inline test_support::TempDir* dir_ = nullptr;
  static inline GoBuild* build_ = nullptr;
  TempDir out_;
};

TEST_F(DiagDumpTest, AHungGoServersReportNamesTheWaitGroupAndWhoHoldsIt) {
  const auto markdown = out_.path() / "report.md";
  const auto junit = out_.path() / "junit.xml";
  const auto [r, j, run] =
      RunOnce({"--stack-after", "300ms", "--kill-after", "20s", "--ready-log", "listening", "--markdown",
               markdown.string(), "--junit", junit.string(), "--", Server(), "{port}"});
  ASSERT_TRUE(run.is_object()) << r.output;
  ASSERT_TRUE(r.exit) << r.output;
  EXPECT_EQ(r.exit->Describe(), "exit 1") << r.output;
  // Hung at --stack-after, ended by its dump: never a crash of its own, never clean.
  EXPECT_EQ(run["outcome"], "killed-by-watchdog") << run.dump(2);
  EXPECT_EQ(run["ended_by_dump"], true);
  EXPECT_THAT(run["detail"].get<std::string>(), HasSubstr("its runtime's dump ended it"));
  const json* dump = DumpOf(run, "sigquit");
  ASSERT_NE(dump, nullptr) << run.dump(2);
  EXPECT_EQ((*dump)["runtime"], "go");
  EXPECT_EQ((*dump)["error"], "");
  EXPECT_EQ((*dump)["cut"], false);
  EXPECT_THAT((*dump)["text"].get<std::string>(), HasSubstr("goroutine 1 ["));
  const std::string verdict = (*dump)["verdict"].get<std::string>();
  EXPECT_THAT(verdict, StartsWith("main goroutine [select] in main.(*API).Close (main.go:"));
  EXPECT_THAT(verdict, HasSubstr("[semacquire] in sync.(*WaitGroup).Wait from main.(*API).Close.func1"));
  EXPECT_THAT(verdict, HasSubstr("main.(*API).serveRPC (main.go:"));
  EXPECT_THAT(verdict, HasSubstr("created by main.(*API).CreateInMemoryAIBridgeServer"));
  // The snapshot's verdict leads with the goroutines, then the sockets it held.
  EXPECT_THAT(run["hang"]["verdict"].get<std::string>(), StartsWith("goroutines of pid "));
  EXPECT_THAT(run["hang"]["verdict"].get<std::string>(), HasSubstr("listener 127.0.0.1:"));
  // The dump went to the capture, not into the target's log.
  ASSERT_FALSE(run["log"]["lines"].empty()) << run.dump(2);
  for (const json& line : run["log"]["lines"])  // [t_ms, stream, text]
    EXPECT_THAT(line[2].get<std::string>(), Not(HasSubstr("goroutine "))) << line.dump();
  EXPECT_EQ(j["meta"]["options"]["dump"], "auto");
  EXPECT_THAT(ReadText(markdown), HasSubstr("sync.(*WaitGroup).Wait"));
  EXPECT_THAT(ReadText(junit), HasSubstr("go dump of pid"));
  EXPECT_THAT(r.output, HasSubstr("taken with sigquit"));
}

TEST_F(DiagDumpTest, AGoServerBehindAShellWrapperIsDumpedAndTheWrapperGetsNativeStacks) {
  // The shell outlives the signal and the server's end (a supervisor's shape); both get the signal.
  const auto [r, j, run] = RunOnce(
      {"--stack-after", "300ms", "--kill-after", "20s", "--ready-log", "listening", "--signal-to", "group", "--",
       "/bin/sh", "-c", "trap 'echo wrapper got TERM' TERM; \"$0\" \"$1\"; echo wrapper saw $?; exec sleep 600",
       Server(), "{port}"});
  ASSERT_TRUE(run.is_object()) << r.output;
  EXPECT_EQ(run["outcome"], "killed-by-watchdog") << run.dump(2);
  EXPECT_EQ(run["ended_by_dump"], true);
  ASSERT_EQ(run["hang"]["processes"].size(), 2u) << run.dump(2);
  EXPECT_EQ(run["hang"]["processes"][0]["name"], "sh");
  const json* dump = DumpOf(run, "sigquit");
  ASSERT_NE(dump, nullptr) << run.dump(2);
  EXPECT_EQ((*dump)["pid"], run["hang"]["processes"][1]["pid"]);
  EXPECT_THAT((*dump)["verdict"].get<std::string>(), HasSubstr("sync.(*WaitGroup).Wait"));
  // The shell is no Go program: its threads' native stacks, as without --dump.
  bool shell_native = false;
  for (const json& s : run["stacks"])
    shell_native = shell_native || (s["runtime"] == "native" && s["pid"] == run["hang"]["processes"][0]["pid"]);
  EXPECT_TRUE(shell_native) << run.dump(2);
}

// With --signal-to group the stop is over when the whole tree is: a wrapper that died of the signal
// at once left its server hung, and --stack-after used to take nothing (the leader had exited), so the
// run reached the watchdog with no stacks at all.
TEST_F(DiagDumpTest, AWrapperThatDiesOfTheSignalStillHasItsHungServerDumped) {
  const auto [r, j, run] =
      RunOnce({"--stack-after", "300ms", "--kill-after", "20s", "--ready-log", "listening", "--signal-to", "group",
               "--", "/bin/sh", "-c", "\"$0\" \"$1\"; echo wrapper saw $?", Server(), "{port}"});
  ASSERT_TRUE(run.is_object()) << r.output;
  EXPECT_EQ(run["outcome"], "killed-by-watchdog") << run.dump(2);
  EXPECT_EQ(run["hang"]["taken_at"], "stack-after");
  const json* dump = DumpOf(run, "sigquit");
  ASSERT_NE(dump, nullptr) << run.dump(2);
  EXPECT_THAT((*dump)["verdict"].get<std::string>(), HasSubstr("sync.(*WaitGroup).Wait"));
}

TEST_F(DiagDumpTest, ANeverReadyGoServerIsDumpedAtTheReadyTimeout) {
  const auto [r, j, run] = RunOnce({"--stack-after", "1s", "--ready-timeout", "500ms", "--ready-log",
                                    "a line it never prints", "--", Server(), "{port}"});
  ASSERT_TRUE(run.is_object()) << r.output;
  EXPECT_EQ(run["outcome"], "never-ready") << run.dump(2);
  EXPECT_EQ(run["hang"]["taken_at"], "ready-timeout");
  const json* dump = DumpOf(run, "sigquit");
  ASSERT_NE(dump, nullptr) << run.dump(2);
  // Waiting for SIGTERM in main, serveRPC parked on its channel.
  EXPECT_THAT((*dump)["verdict"].get<std::string>(), StartsWith("main goroutine [chan receive] in main.main"));
  EXPECT_THAT((*dump)["verdict"].get<std::string>(), HasSubstr("main.(*API).serveRPC"));
}

// A wrapper that sends the server's stderr to a file: the dump is what SIGQUIT appended to that file,
// read through /proc; the earlier lines of the file are not part of it.
TEST_F(DiagDumpTest, AGoServerWhoseStderrGoesToAFileIsDumpedFromThatFile) {
  const auto [r, j, run] =
      RunOnce({"--stack-after", "300ms", "--kill-after", "20s", "--ready-log", "listening", "--", "/bin/sh", "-c",
               "echo earlier >\"$2\"; exec \"$0\" \"$1\" 2>>\"$2\"", Server(), "{port}", "{dir}/server.err"});
  ASSERT_TRUE(run.is_object()) << r.output;
  EXPECT_EQ(run["outcome"], "killed-by-watchdog") << run.dump(2);
  EXPECT_EQ(run["ended_by_dump"], true);
  const json* dump = DumpOf(run, "sigquit");
  ASSERT_NE(dump, nullptr) << run.dump(2);
  EXPECT_EQ((*dump)["error"], "");
  EXPECT_THAT((*dump)["text"].get<std::string>(), StartsWith("SIGQUIT: quit"));
  EXPECT_THAT((*dump)["verdict"].get<std::string>(), HasSubstr("sync.(*WaitGroup).Wait"));
}

TEST_F(DiagDumpTest, ADumpThatWouldBeLostIsNotAskedForAndNativeStacksStandIn) {
  const auto [r, j, run] = RunOnce({"--stack-after", "300ms", "--kill-after", "3s", "--ready-log", "listening", "--env",
                                    "GOTRACEBACK=none", "--", Server(), "{port}"});
  ASSERT_TRUE(run.is_object()) << r.output;
  // No SIGQUIT was sent: the server hung on to the watchdog.
  EXPECT_EQ(run["outcome"], "killed-by-watchdog") << run.dump(2);
  EXPECT_EQ(run["ended_by_dump"], false);
  const json* dump = DumpOf(run, "sigquit");
  ASSERT_NE(dump, nullptr) << run.dump(2);
  EXPECT_THAT((*dump)["error"].get<std::string>(), HasSubstr("GOTRACEBACK=none"));
  EXPECT_EQ((*dump)["text"], "");
  bool native = false;
  for (const json& s : run["stacks"]) native = native || (s["runtime"] == "native" && s["pid"] == (*dump)["pid"]);
  EXPECT_TRUE(native) << run.dump(2);
}

TEST_F(DiagDumpTest, AGoServerThatCatchesSigquitIsRecordedAsNotAnswering) {
  const auto [r, j, run] = RunOnce({"--stack-after", "300ms", "--kill-after", "4s", "--ready-log", "listening", "--",
                                    Server(), "{port}", "catch-quit"});
  ASSERT_TRUE(run.is_object()) << r.output;
  EXPECT_EQ(run["outcome"], "killed-by-watchdog") << run.dump(2);
  EXPECT_EQ(run["ended_by_dump"], false);
  const json* dump = DumpOf(run, "sigquit");
  ASSERT_NE(dump, nullptr) << run.dump(2);
  EXPECT_THAT((*dump)["error"].get<std::string>(), HasSubstr("may catch SIGQUIT itself"));
}

TEST_F(DiagDumpTest, DumpNoneTakesNothingButTheSnapshot) {
  const auto [r, j, run] = RunOnce({"--stack-after", "300ms", "--kill-after", "2s", "--ready-log", "listening",
                                    "--dump", "none", "--", Server(), "{port}"});
  ASSERT_TRUE(run.is_object()) << r.output;
  EXPECT_TRUE(run["stacks"].empty()) << run.dump(2);
  EXPECT_EQ(run["ended_by_dump"], false);
  EXPECT_THAT(run["hang"]["verdict"].get<std::string>(), HasSubstr("listener 127.0.0.1:"));
}

TEST(DiagDumpUsageTest, BadDumpValuesAreUsageErrors) {
  for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--stack-after", "1s", "--dump", "ruby"},
            "--dump: want auto, go, jvm, python, node, native or none, not 'ruby'"},
           {{"--dump", "go"}, "--dump: only meaningful with --stack-after"}}) {
    std::vector<std::string> all = args;
    all.insert(all.end(), {"--", "/bin/true"});
    const auto r = RunDiag(all);
    ASSERT_TRUE(r.exit) << r.output;
    EXPECT_EQ(r.exit->Describe(), "exit 2") << r.output;
    EXPECT_THAT(r.output, HasSubstr(message));
  }
}

}  // namespace
}  // namespace coder::e2e
