#include "harness/experiment/jvm_attach.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "common/duration.h"
#include "harness/analysis/jvm_dump.h"
#include "harness/measure/stack_capture.h"
#include "harness/process/loop_await.h"
#include "harness/process/proc_fs.h"
#include "harness/process/spawn.h"

namespace coder::harness {
namespace {

using Clock = std::chrono::steady_clock;

// jcmd is a JVM itself: its own start-up is most of its time (0.4 s here), more on a loaded machine.
constexpr std::chrono::milliseconds kJcmdTimeout{10'000};

// The jcmd of the JDK the target runs (its version matches the target's), else the first on PATH.
std::string FindJcmd(pid_t pid) {
  const std::filesystem::path exe = ReadLink(fmt::format("/proc/{}/exe", pid));
  if (!exe.empty()) {
    const auto sibling = exe.parent_path() / "jcmd";
    if (::access(sibling.c_str(), X_OK) == 0) return sibling.string();
  }
  const char* path = std::getenv("PATH");
  auto found = ResolveExecutable("jcmd", path ? std::optional<std::string>(path) : std::nullopt);
  return found ? *found : "";
}

// Why jcmd would not attach to `pid`, from its command line and the options the JVM reads from its
// environment; "" when nothing says so. Asked anyway, a JVM that refuses the attach takes jcmd's SIGQUIT
// as a dump request and prints it into the run's log while jcmd waits out its own timeout.
std::string AttachRefused(pid_t pid) {
  constexpr std::string_view kOption = "-XX:+DisableAttachMechanism";
  if (auto cmdline = ReadSmallFile(fmt::format("/proc/{}/cmdline", pid));
      cmdline && cmdline->find(kOption) != std::string::npos)
    return "its command line has -XX:+DisableAttachMechanism";
  for (const char* name : {"JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS"})
    if (auto value = EnvironmentValue(pid, name); value && value->find(kOption) != std::string::npos)
      return fmt::format("its {} has -XX:+DisableAttachMechanism", name);
  return "";
}

// The first line of what jcmd printed, for an error: "com.sun.tools.attach.AttachNotSupportedException: ...".
std::string FirstLine(const std::string& text) {
  const size_t start = text.find_first_not_of(" \n");
  if (start == std::string::npos) return "nothing";
  return text.substr(start, std::min<size_t>(text.find('\n', start), start + 200) - start);
}

/// SIGQUIT and the dump off the JVM's stdout, once it has been quiet for limits.quiet. Why it was not
/// taken in `out.error`.
boost::asio::awaitable<void> TakeBySigquit(ChildProcess& child, pid_t pid, const DumpLimits& limits,
                                           ProcessStacks& out) {
  out.tool = "sigquit";
  if (!SignalCaught(pid, SIGQUIT)) {
    out.error += "; it does not catch SIGQUIT (-Xrs), which would kill it: SIGQUIT was not sent";
    co_return;
  }
  const std::string stdout_of = ReadLink(fmt::format("/proc/{}/fd/1", pid));
  if (stdout_of.empty() || stdout_of != child.output_pipe(1)) {
    out.error += fmt::format("; its standard output is {}, not the harness's pipe: SIGQUIT was not sent",
                             stdout_of.empty() ? "unreadable" : stdout_of);
    co_return;
  }
  child.StartCapture(1, limits.max_bytes);
  const auto sent_at = Clock::now();
  const bool sent = SignalTreeProcess(child, pid, SIGQUIT);
  uint64_t lines = 0;
  auto changed_at = sent_at;
  auto pause = std::chrono::microseconds(500);
  while (sent) {
    const auto now = Clock::now();
    if (const uint64_t seen = child.capture_lines(); seen != lines) {
      lines = seen;
      changed_at = now;
    }
    if ((lines > 0 && now - changed_at >= limits.quiet) || TreeProcessGone(child, pid)) break;
    if (lines == 0 && now >= sent_at + limits.answer_timeout) {
      out.error += fmt::format("; no thread dump within {} ms of SIGQUIT", limits.answer_timeout.count());
      break;
    }
    if (now >= sent_at + limits.finish_timeout) break;
    co_await SleepUntil(now + pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(10));
  }
  ChildProcess::Capture capture = child.TakeCapture();
  if (!sent) out.error += "; the process was gone before SIGQUIT reached it";
  out.text = std::move(capture.text);
  out.cut = capture.cut;
}

}  // namespace

boost::asio::awaitable<ProcessStacks> TakeJvmDump(ChildProcess& child, pid_t pid, const DumpLimits& limits,
                                                  ActiveChildren& active) {
  ProcessStacks out;
  out.pid = static_cast<int>(pid);
  out.tool = "jcmd";
  out.runtime = std::string(ToString(Runtime::kJvm));
  out.at_ms = MsBetween(child.started_at(), Clock::now());
  const std::string jcmd = FindJcmd(pid);
  if (jcmd.empty()) {
    out.error = "no jcmd beside its java or on PATH (Debian's openjdk-17-jdk-headless has it)";
  } else if (std::string refused = AttachRefused(pid); !refused.empty()) {
    out.error = refused;
  } else {
    ToolRun run = co_await OffLoop([&] {
      return RunTool({jcmd, std::to_string(pid), "Thread.print", "-l"}, {}, kJcmdTimeout, limits.max_bytes, active);
    });
    if (!run.error.empty()) {
      out.error = fmt::format("{} could not run: {}", jcmd, run.error);
    } else if (!run.exit) {
      out.error = fmt::format("jcmd did not finish within {} ms", kJcmdTimeout.count());
    } else if (run.exit->code != 0 || run.text.find("Full thread dump") == std::string::npos) {
      out.error = fmt::format("jcmd ended with {}: {}", run.exit->Describe(), FirstLine(run.text));
    } else {
      out.text = std::move(run.text);
      out.cut = out.text.starts_with("[");  // RunTool's "[N earlier bytes cut]"
    }
  }
  if (out.text.empty() && !TreeProcessGone(child, pid)) co_await TakeBySigquit(child, pid, limits, out);
  const JvmDump dump = ParseJvmDump(out.text);
  out.verdict = JvmDumpVerdict(dump);
  // Where SIGQUIT answered after jcmd could not, why jcmd was not used stays said.
  if (!dump.threads.empty() && out.tool == "sigquit") out.error = "jcmd not used: " + out.error + "; taken by SIGQUIT";
  if (out.text.empty() && out.error.empty()) out.error = "no thread dump";
  co_return out;
}

}  // namespace coder::harness
