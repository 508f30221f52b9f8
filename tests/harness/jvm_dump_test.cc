// The JVM thread dump: parsing what jcmd Thread.print -l (or SIGQUIT) prints, and the verdict.
#include "harness/analysis/jvm_dump.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace coder::harness {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// OpenJDK 17's `jcmd PID Thread.print -l` for a server whose shutdown hook blocks on the monitor that
// the "rpc" thread holds while it waits on a latch nobody counts down (run by the source launcher),
// trimmed to these threads, one platform daemon and one VM thread.
constexpr const char* kHookBlocked = R"dump(15886:
2026-12-07 15:28:10
Full thread dump OpenJDK 64-Bit Server VM (17.0.15+6-Debian-1deb12u1 mixed mode, sharing):

"main" #1 prio=5 os_prio=0 cpu=366.78ms elapsed=1.54s tid=0x00007f37e0018020 nid=0x3e12 runnable  [0x00007f37e65fd000]
   java.lang.Thread.State: RUNNABLE
	at sun.nio.ch.Net.accept(java.base@17.0.15/Native Method)
	at sun.nio.ch.NioSocketImpl.accept(java.base@17.0.15/NioSocketImpl.java:760)
	at java.net.ServerSocket.implAccept(java.base@17.0.15/ServerSocket.java:675)
	at java.net.ServerSocket.platformImplAccept(java.base@17.0.15/ServerSocket.java:641)
	at java.net.ServerSocket.implAccept(java.base@17.0.15/ServerSocket.java:617)
	at java.net.ServerSocket.implAccept(java.base@17.0.15/ServerSocket.java:574)
	at java.net.ServerSocket.accept(java.base@17.0.15/ServerSocket.java:532)
	at Server.main(Server.java:26)
	at jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(java.base@17.0.15/Native Method)
	at jdk.internal.reflect.NativeMethodAccessorImpl.invoke(java.base@17.0.15/NativeMethodAccessorImpl.java:77)
	at jdk.internal.reflect.DelegatingMethodAccessorImpl.invoke(java.base@17.0.15/DelegatingMethodAccessorImpl.java:43)
	at java.lang.reflect.Method.invoke(java.base@17.0.15/Method.java:569)
	at com.sun.tools.javac.launcher.Main.execute(jdk.compiler@17.0.15/Main.java:419)
	at com.sun.tools.javac.launcher.Main.run(jdk.compiler@17.0.15/Main.java:192)
	at com.sun.tools.javac.launcher.Main.main(jdk.compiler@17.0.15/Main.java:132)

"Reference Handler" #2 daemon prio=10 os_prio=0 cpu=0.27ms elapsed=1.49s tid=0x00007f37e00f6c50 nid=0x3e19 waiting on condition  [0x00007f37bca06000]
   java.lang.Thread.State: RUNNABLE
	at java.lang.ref.Reference.waitForReferencePendingList(java.base@17.0.15/Native Method)
	at java.lang.ref.Reference.processPendingReferences(java.base@17.0.15/Reference.java:253)
	at java.lang.ref.Reference$ReferenceHandler.run(java.base@17.0.15/Reference.java:215)

"rpc" #12 prio=5 os_prio=0 cpu=0.40ms elapsed=0.70s tid=0x00007f37e0447bd0 nid=0x3e33 waiting on condition  [0x00007f37adcfc000]
   java.lang.Thread.State: WAITING (parking)
	at jdk.internal.misc.Unsafe.park(java.base@17.0.15/Native Method)
	- parking to wait for  <0x000000069eb9aa20> (a java.util.concurrent.CountDownLatch$Sync)
	at java.util.concurrent.locks.LockSupport.park(java.base@17.0.15/LockSupport.java:211)
	at java.util.concurrent.locks.AbstractQueuedSynchronizer.acquire(java.base@17.0.15/AbstractQueuedSynchronizer.java:715)
	at java.util.concurrent.locks.AbstractQueuedSynchronizer.acquireSharedInterruptibly(java.base@17.0.15/AbstractQueuedSynchronizer.java:1047)
	at java.util.concurrent.CountDownLatch.await(java.base@17.0.15/CountDownLatch.java:230)
	at Server.serveRpc(Server.java:10)
	- locked <0x000000069eb9a7c8> (a java.lang.Object)
	at Server.lambda$main$0(Server.java:22)
	at Server$$Lambda$206/0x00007f3760140208.run(Unknown Source)
	at java.lang.Thread.run(java.base@17.0.15/Thread.java:840)

"SIGTERM handler" #14 daemon prio=9 os_prio=0 cpu=0.40ms elapsed=0.65s tid=0x00007f3750001100 nid=0x3e37 in Object.wait()  [0x00007f37adbfc000]
   java.lang.Thread.State: WAITING (on object monitor)
	at java.lang.Object.wait(java.base@17.0.15/Native Method)
	- waiting on <0x000000069ebabef0> (a java.lang.Thread)
	at java.lang.Thread.join(java.base@17.0.15/Thread.java:1313)
	- locked <0x000000069ebabef0> (a java.lang.Thread)
	at java.lang.Thread.join(java.base@17.0.15/Thread.java:1381)
	at java.lang.ApplicationShutdownHooks.runHooks(java.base@17.0.15/ApplicationShutdownHooks.java:107)
	at java.lang.ApplicationShutdownHooks$1.run(java.base@17.0.15/ApplicationShutdownHooks.java:46)
	at java.lang.Shutdown.runHooks(java.base@17.0.15/Shutdown.java:130)
	at java.lang.Shutdown.exit(java.base@17.0.15/Shutdown.java:173)
	- locked <0x00000007ffb020b8> (a java.lang.Class for java.lang.Shutdown)
	at java.lang.Terminator$1.handle(java.base@17.0.15/Terminator.java:51)
	at jdk.internal.misc.Signal$1.run(java.base@17.0.15/Signal.java:219)
	at java.lang.Thread.run(java.base@17.0.15/Thread.java:840)

"shutdown" #13 prio=5 os_prio=0 cpu=0.33ms elapsed=0.64s tid=0x00007f37440016e0 nid=0x3e38 waiting for monitor entry  [0x00007f37adafc000]
   java.lang.Thread.State: BLOCKED (on object monitor)
	at Server.stop(Server.java:16)
	- waiting to lock <0x000000069eb9a7c8> (a java.lang.Object)
	at Server.lambda$main$1(Server.java:24)
	at Server$$Lambda$207/0x00007f3760140428.run(Unknown Source)
	at java.lang.Thread.run(java.base@17.0.15/Thread.java:840)

   Locked ownable synchronizers:
	- None

"GC Thread#0" os_prio=0 cpu=3.64ms elapsed=1.54s tid=0x00007f37e00417a0 nid=0x3e13 runnable  
JNI global refs: 15, weak refs: 0
)dump";

TEST(JvmDumpTest, ReadsJavaAndVmThreadsTheirStatesFramesAndLocks) {
  const JvmDump dump = ParseJvmDump(kHookBlocked);
  ASSERT_EQ(dump.threads.size(), 6u);
  EXPECT_EQ(dump.threads[0].name, "main");
  EXPECT_TRUE(dump.threads[0].java);
  EXPECT_EQ(dump.threads[0].state, "RUNNABLE");
  EXPECT_EQ(dump.threads[0].frames[0].function, "sun.nio.ch.Net.accept");
  EXPECT_EQ(dump.threads[0].frames[0].file, "");
  EXPECT_EQ(dump.threads[0].frames[7].function, "Server.main");
  EXPECT_EQ(dump.threads[0].frames[7].file, "Server.java");
  EXPECT_EQ(dump.threads[0].frames[7].line, 26);
  const JvmThread& rpc = dump.threads[2];
  EXPECT_EQ(rpc.name, "rpc");
  EXPECT_EQ(rpc.state, "WAITING");
  EXPECT_EQ(rpc.waits_for, "<0x000000069eb9aa20> (a java.util.concurrent.CountDownLatch$Sync)");
  ASSERT_EQ(rpc.holds.size(), 1u);
  EXPECT_EQ(rpc.holds[0], "<0x000000069eb9a7c8>");
  const JvmThread& hook = dump.threads[4];
  EXPECT_EQ(hook.name, "shutdown");
  EXPECT_EQ(hook.state, "BLOCKED");
  EXPECT_EQ(hook.waits_for, "<0x000000069eb9a7c8> (a java.lang.Object)");
  EXPECT_EQ(dump.threads[5].name, "GC Thread#0");
  EXPECT_FALSE(dump.threads[5].java);
  EXPECT_FALSE(dump.deadlock);
}

TEST(JvmDumpTest, TheVerdictNamesTheShutdownTheBlockedHookAndWhoHoldsItsLock) {
  EXPECT_EQ(JvmDumpVerdict(ParseJvmDump(kHookBlocked)),
            "JVM shutdown waits for its shutdown hooks (\"SIGTERM handler\" in java.lang.Thread.join); \"shutdown\" "
            "BLOCKED in Server.stop (Server.java:16) waiting to lock <0x000000069eb9a7c8> (a java.lang.Object) held "
            "by \"rpc\"; \"rpc\" WAITING in java.util.concurrent.CountDownLatch.await from Server.serveRpc "
            "(Server.java:10); \"main\" RUNNABLE in java.net.ServerSocket.accept from Server.main (Server.java:26)");
}

TEST(JvmDumpTest, APoolOfThreadsWaitingAlikeIsOneGroupAndTheRestIsCounted) {
  std::string text;
  for (int i = 0; i < 4; ++i)
    text += "\"pool-1-thread-" + std::to_string(i) + "\" #2" + std::to_string(i) +
            " prio=5 os_prio=0 tid=0x1 nid=0x2 waiting on condition\n"
            "   java.lang.Thread.State: WAITING (parking)\n"
            "\tat jdk.internal.misc.Unsafe.park(java.base@17/Native Method)\n"
            "\tat java.util.concurrent.LinkedBlockingQueue.take(java.base@17/LinkedBlockingQueue.java:435)\n"
            "\tat com.example.Worker.run(Worker.java:12)\n\n";
  text +=
      "\"ticker\" #40 prio=5 tid=0x1 nid=0x2 in Object.wait()\n   java.lang.Thread.State: TIMED_WAITING (on object "
      "monitor)\n\tat java.lang.Object.wait(java.base@17/Native Method)\n\tat com.example.Tick.run(Tick.java:5)\n\n";
  const JvmDump dump = ParseJvmDump(text);
  EXPECT_EQ(
      JvmDumpVerdict(dump),
      "4 threads WAITING in java.util.concurrent.LinkedBlockingQueue.take from com.example.Worker.run "
      "(Worker.java:12); \"ticker\" TIMED_WAITING in java.lang.Object.wait from com.example.Tick.run (Tick.java:5)");
  EXPECT_THAT(JvmDumpVerdict(dump, 1), HasSubstr("; 1 more thread"));
}

TEST(JvmDumpTest, ADeadlockIsSaidFirstAndItsReportIsNotReadAsThreads) {
  const std::string text =
      "\"a\" #12 prio=5 tid=0x1 nid=0x2 waiting for monitor entry\n   java.lang.Thread.State: BLOCKED (on object "
      "monitor)\n\tat D.one(D.java:5)\n\t- waiting to lock <0x2> (a java.lang.Object)\n\t- locked <0x1> (a "
      "java.lang.Object)\n\n"
      "\"b\" #13 prio=5 tid=0x1 nid=0x2 waiting for monitor entry\n   java.lang.Thread.State: BLOCKED (on object "
      "monitor)\n\tat D.two(D.java:9)\n\t- waiting to lock <0x1> (a java.lang.Object)\n\t- locked <0x2> (a "
      "java.lang.Object)\n\n"
      "JNI global refs: 15, weak refs: 0\n\n\nFound one Java-level deadlock:\n=============================\n"
      "\"a\":\n  waiting to lock monitor 0x7f (object 0x2, a java.lang.Object),\n  which is held by \"b\"\n\n"
      "Java stack information for the threads listed above:\n===================================================\n"
      "\"a\":\n\tat D.one(D.java:5)\n\nFound 1 deadlock.\n";
  const JvmDump dump = ParseJvmDump(text);
  EXPECT_TRUE(dump.deadlock);
  ASSERT_EQ(dump.threads.size(), 2u);
  EXPECT_EQ(dump.threads[0].frames.size(), 1u);
  const std::string verdict = JvmDumpVerdict(dump);
  EXPECT_THAT(verdict, StartsWith("a Java-level deadlock"));
  EXPECT_THAT(verdict,
              HasSubstr("\"a\" BLOCKED in D.one (D.java:5) waiting to lock <0x2> (a java.lang.Object) held by \"b\""));
  EXPECT_THAT(verdict,
              HasSubstr("\"b\" BLOCKED in D.two (D.java:9) waiting to lock <0x1> (a java.lang.Object) held by \"a\""));
}

TEST(JvmDumpTest, PlatformFramesAreTheJdksAndWhatIsNotADumpIsNothing) {
  EXPECT_TRUE(IsPlatformFrame({"java.lang.Thread.run", "", 0}));
  EXPECT_TRUE(IsPlatformFrame({"jdk.internal.misc.Unsafe.park", "", 0}));
  EXPECT_TRUE(IsPlatformFrame({"com.sun.net.httpserver.HttpServer.stop", "", 0}));
  EXPECT_FALSE(IsPlatformFrame({"com.example.Api.close", "", 0}));
  EXPECT_TRUE(ParseJvmDump("not a dump\n\tat nothing\n").threads.empty());
  EXPECT_EQ(JvmDumpVerdict(JvmDump{}), "");
}

}  // namespace
}  // namespace coder::harness
