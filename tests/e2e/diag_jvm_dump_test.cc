// `coder diag shutdown --stack-after` on a hung Java server: its threads through jcmd Thread.print, or
// SIGQUIT where jcmd cannot attach, with the locks each holds and waits for.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/foreign_servers.h"
#include "tests/e2e/report_files.h"
#include "tests/support/process.h"

namespace coder::e2e {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Its shutdown hook blocks on the monitor "rpc" holds while it waits on a latch nobody counts down.
constexpr const char* kHookServer = R"java(import java.net.ServerSocket;
import java.util.concurrent.CountDownLatch;

public class Server {
    static final Object lock = new Object();
    static final CountDownLatch done = new CountDownLatch(1);

    static void serveRpc() throws InterruptedException {
        synchronized (lock) {
            done.await();
        }
    }

    static void stop() {
        synchronized (lock) {
            System.out.println("stopped");
        }
    }

    public static void main(String[] args) throws Exception {
        ServerSocket ln = new ServerSocket(Integer.parseInt(args[0]), 50, java.net.InetAddress.getLoopbackAddress());
        Thread rpc = new Thread(() -> { try { serveRpc(); } catch (InterruptedException e) { } }, "rpc");
        rpc.start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> { System.out.println("stopping"); stop(); }, "shutdown"));
        System.out.println("listening");
        while (true) ln.accept().close();
    }
}
)java";

class DiagJvmDumpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("jvm-dump");
    const std::string javac = SystemProgram("javac");
    if (javac.empty() || SystemProgram("java").empty()) return;
    std::ofstream(dir_->path() / "Server.java") << kHookServer;
    harness::LaunchSpec spec;
    spec.argv = {javac, "-d", dir_->path().string(), (dir_->path() / "Server.java").string()};
    const auto built = test_support::RunToEnd(spec, std::chrono::seconds(120));
    compiled_ = built.exit && built.exit->Describe() == "exit 0";
    why_ = built.output;
  }
  static void TearDownTestSuite() { delete dir_; }
  void SetUp() override {
    java_ = SystemProgram("java");
    if (java_.empty() || SystemProgram("javac").empty())
      GTEST_SKIP() << "needs a JDK: Debian's openjdk-17-jdk-headless (scripts/setup installs it)";
    ASSERT_TRUE(compiled_) << why_;
  }
  OneRun Run(std::vector<std::string> java_options,
             std::vector<std::string> args = {"--stack-after", "500ms", "--kill-after", "4s", "--ready-log",
                                              "listening"}) {
    args.insert(args.end(), {"--", java_});
    args.insert(args.end(), java_options.begin(), java_options.end());
    args.insert(args.end(), {"-cp", dir_->path().string(), "Server", "{port}"});
    return RunOnce(std::move(args));
  }
  static void ExpectTheHookAndTheLockOwner(const std::string& verdict) {
    EXPECT_THAT(verdict, StartsWith("JVM shutdown waits for its shutdown hooks (\"SIGTERM handler\" in "
                                    "java.lang.Thread.join)"));
    EXPECT_THAT(verdict, HasSubstr("\"shutdown\" BLOCKED in Server.stop (Server.java:16) waiting to lock <0x"));
    EXPECT_THAT(verdict, HasSubstr("(a java.lang.Object) held by \"rpc\""));
    EXPECT_THAT(verdict, HasSubstr("\"rpc\" WAITING in java.util.concurrent.CountDownLatch.await from Server.serveRpc "
                                   "(Server.java:10)"));
  }

  static inline TempDir* dir_ = nullptr;
  static inline bool compiled_ = false;
  static inline std::string why_;
  std::string java_;
};

TEST_F(DiagJvmDumpTest, AHungJavaServersReportNamesTheBlockedHookAndTheThreadHoldingItsLock) {
  const auto [r, j, run] = Run({});
  ASSERT_TRUE(run.is_object()) << r.output;
  EXPECT_EQ(run["outcome"], "killed-by-watchdog") << run.dump(2);
  // The JVM keeps running after its dump: the watchdog ends the run.
  EXPECT_EQ(run["ended_by_dump"], false);
  const json* dump = DumpOf(run, "jcmd");
  ASSERT_NE(dump, nullptr) << run.dump(2);
  EXPECT_EQ((*dump)["runtime"], "jvm");
  EXPECT_EQ((*dump)["error"], "");
  EXPECT_THAT((*dump)["text"].get<std::string>(), HasSubstr("Full thread dump"));
  ExpectTheHookAndTheLockOwner((*dump)["verdict"].get<std::string>());
  EXPECT_THAT(run["hang"]["verdict"].get<std::string>(), StartsWith("JVM threads of pid "));
}

// With the attach mechanism off jcmd cannot attach (and asked anyway, the JVM would print jcmd's
// SIGQUIT into the log): the harness sends SIGQUIT itself and reads the dump off the JVM's stdout.
TEST_F(DiagJvmDumpTest, AJvmThatRefusesTheAttachIsDumpedBySigquitApartFromItsLog) {
  const auto [r, j, run] = Run({"-XX:+DisableAttachMechanism"});
  ASSERT_TRUE(run.is_object()) << r.output;
  EXPECT_EQ(run["outcome"], "killed-by-watchdog") << run.dump(2);
  const json* dump = DumpOf(run, "sigquit");
  ASSERT_NE(dump, nullptr) << run.dump(2);
  EXPECT_EQ((*dump)["runtime"], "jvm");
  EXPECT_THAT((*dump)["error"].get<std::string>(), HasSubstr("-XX:+DisableAttachMechanism"));
  ExpectTheHookAndTheLockOwner((*dump)["verdict"].get<std::string>());
  for (const json& line : run["log"]["lines"])  // [t_ms, stream, text]
    EXPECT_THAT(line[2].get<std::string>(), Not(HasSubstr("Full thread dump"))) << line.dump();
}

// -Xrs leaves SIGQUIT's default action, a core dump: never sent, native stacks instead. (-Xrs leaves
// SIGTERM's too, so it is taken while the server never gets ready.)
TEST_F(DiagJvmDumpTest, AJvmWithoutASigquitHandlerIsNotSentOne) {
  const auto [r, j, run] = Run({"-Xrs", "-XX:+DisableAttachMechanism"}, {"--stack-after", "1s", "--ready-timeout", "3s",
                                                                         "--ready-log", "a line it never prints"});
  ASSERT_TRUE(run.is_object()) << r.output;
  EXPECT_EQ(run["outcome"], "never-ready") << run.dump(2);
  const json* dump = DumpOf(run, "sigquit");
  ASSERT_NE(dump, nullptr) << run.dump(2);
  EXPECT_THAT((*dump)["error"].get<std::string>(), HasSubstr("does not catch SIGQUIT"));
  EXPECT_EQ((*dump)["text"], "");
  EXPECT_TRUE(HasNativeStacksOf(run, (*dump)["pid"])) << run.dump(2);
}

}  // namespace
}  // namespace coder::e2e
