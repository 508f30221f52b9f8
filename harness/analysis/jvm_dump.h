#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace coder::harness {

/// One frame of a JVM thread dump: "\tat Server.stop(Server.java:16)".
struct JvmFrame {
  std::string function;  ///< "Server.stop", "java.util.concurrent.CountDownLatch.await"
  std::string file;      ///< "Server.java"; "" for "Native Method" and "Unknown Source"
  int line = 0;
};

/// One thread of a thread dump (jcmd PID Thread.print -l, or what SIGQUIT prints on the JVM's stdout).
struct JvmThread {
  std::string name;                ///< between the header's quotes: "main", "SIGTERM handler"
  bool java = false;               ///< a Java thread ("#N" in its header); the VM's own (GC, compiler) are not
  std::string state;               ///< "RUNNABLE", "BLOCKED", "WAITING", "TIMED_WAITING"; "" for VM threads
  std::vector<JvmFrame> frames;    ///< innermost first
  std::string waits_for;           ///< the lock it waits to take: "<0x...> (a java.lang.Object)"
  std::vector<std::string> holds;  ///< the addresses of the monitors and synchronizers it holds
};

struct JvmDump {
  std::vector<JvmThread> threads;  ///< in printed order
  bool deadlock = false;           ///< the JVM found a Java-level deadlock ("Found one Java-level deadlock")
};

/// Parses a HotSpot thread dump; lines it does not know (the SMR info, JNI refs, a deadlock report's
/// body) are skipped, never an error. Pure; linear in the text.
JvmDump ParseJvmDump(std::string_view text);

/// Whether `frame` is the platform's (java.*, javax.*, jdk.*, sun.*, com.sun.*) rather than the program's.
bool IsPlatformFrame(const JvmFrame& frame);

/// One sentence of where the JVM waits: a deadlock first, then the JVM's own shutdown if it is waiting
/// for its hooks, then the Java threads that run the program's code, BLOCKED first (with the thread
/// that holds the lock), then WAITING, then the rest, threads alike grouped, e.g. "JVM shutdown waits
/// for its shutdown hooks ("SIGTERM handler" in java.lang.Thread.join); "shutdown" BLOCKED in
/// Server.stop (Server.java:16) waiting to lock <0x69eb9a7c8> (a java.lang.Object) held by "rpc";
/// "rpc" WAITING in java.util.concurrent.CountDownLatch.await from Server.serveRpc (Server.java:10)". At
/// most `max_groups` groups, the rest counted. Empty when there is none of these. Pure.
std::string JvmDumpVerdict(const JvmDump& dump, size_t max_groups = 5);

}  // namespace coder::harness
