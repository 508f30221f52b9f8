#include "harness/experiment/runtime_dump.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include <fmt/format.h>

#include "common/duration.h"
#include "common/file_util.h"
#include "harness/analysis/go_dump.h"
#include "harness/experiment/agent_dump.h"
#include "harness/experiment/jvm_attach.h"
#include "harness/process/loop_await.h"
#include "harness/process/proc_fs.h"

namespace coder::harness {
namespace {

using Clock = std::chrono::steady_clock;

/// Where a Go dump of `pid` can be read: the harness's own stderr pipe, or a regular file its stderr
/// was redirected to (a wrapper's `2>server.log`), opened through /proc for reading.
struct GoDumpSource {
  std::string error;  ///< why the dump would be lost; "" when it can be taken
  int file = -1;      ///< the stderr file, read from its size before the signal; -1: the harness's pipe
  GoDumpSource() = default;
  GoDumpSource(const GoDumpSource&) = delete;
  GoDumpSource& operator=(const GoDumpSource&) = delete;
  ~GoDumpSource() {
    if (file >= 0) ::close(file);
  }
};

void FindGoDumpSource(ChildProcess& child, pid_t pid, GoDumpSource& out) {
  if (auto traceback = EnvironmentValue(pid, "GOTRACEBACK"); traceback && (*traceback == "none" || *traceback == "0")) {
    out.error = fmt::format("GOTRACEBACK={} in its environment: SIGQUIT would print no goroutine, so none was sent",
                            *traceback);
    return;
  }
  const std::string fd2 = fmt::format("/proc/{}/fd/2", pid);
  const std::string err = ReadLink(fd2);
  if (err.empty()) {
    out.error = "its standard error cannot be read from /proc: SIGQUIT was not sent";
    return;
  }
  if (err == child.output_pipe(2)) return;
  // O_NONBLOCK: a FIFO's open must not wait for a writer; only a regular file is read.
  const int fd = ::open(fd2.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  struct stat st {};
  if (fd >= 0 && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    out.file = fd;
    return;
  }
  if (fd >= 0) ::close(fd);
  out.error = fmt::format(
      "its standard error is {}, neither the harness's pipe nor a file it can read: the goroutine dump would not "
      "reach the harness, so SIGQUIT was not sent",
      err);
}

off_t FileSize(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_size : 0;
}

/// SIGQUIT to a Go process and its goroutine dump off the stderr pipe. Go prints every goroutine
/// (GOTRACEBACK=all, set at the launch) and exits 2.
boost::asio::awaitable<ProcessStacks> TakeGoDump(ChildProcess& child, pid_t pid, const DumpLimits& limits) {
  ProcessStacks out;
  out.pid = static_cast<int>(pid);
  out.tool = "sigquit";
  out.runtime = std::string(ToString(Runtime::kGo));
  out.at_ms = MsBetween(child.started_at(), Clock::now());
  GoDumpSource source;
  FindGoDumpSource(child, pid, source);
  if (out.error = source.error; !out.error.empty()) co_return out;
  const bool to_file = source.file >= 0;
  const off_t file_before = to_file ? FileSize(source.file) : 0;
  if (!to_file) child.StartCapture(2, limits.max_bytes);
  const auto sent_at = Clock::now();
  const bool sent = SignalTreeProcess(child, pid, SIGQUIT);
  if (!sent) {
    if (!to_file) (void)child.TakeCapture();
    out.error = "the process was gone before SIGQUIT reached it";
    co_return out;
  }
  const auto answer_by = sent_at + limits.answer_timeout;
  const auto finish_by = sent_at + limits.finish_timeout;
  auto pause = std::chrono::microseconds(500);
  // Lines of the capture, or the file's size: what grows while Go writes.
  const uint64_t initial = to_file ? static_cast<uint64_t>(file_before) : 0;
  uint64_t lines = initial;
  auto quiet_since = Clock::now();
  bool gone = false;
  for (;;) {
    const auto now = Clock::now();
    if (const uint64_t seen = to_file ? static_cast<uint64_t>(FileSize(source.file)) : child.capture_lines();
        seen != lines) {
      lines = seen;
      quiet_since = now;
    }
    // The leader's exit is published once its pipes are drained: all it wrote is in the capture. Of a
    // descendant only the quiet after its exit says so.
    gone = gone || TreeProcessGone(child, pid);
    if (gone && ((pid == child.pid() && !to_file) || now - quiet_since >= std::chrono::milliseconds(20))) break;
    if (lines == initial && now >= answer_by) {
      out.error = fmt::format(
          "no goroutine dump within {} ms of SIGQUIT: the program may catch SIGQUIT itself (os/signal.Notify)",
          limits.answer_timeout.count());
      break;
    }
    if (now >= finish_by) {
      out.error = fmt::format("the goroutine dump was still going {} ms after SIGQUIT; kept what it printed",
                              limits.finish_timeout.count());
      break;
    }
    co_await SleepUntil(std::min(now + pause, finish_by));
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(10));
  }
  if (to_file) {
    const off_t size = FileSize(source.file);
    const off_t from = std::min(file_before, size);  // a file truncated meanwhile is read from its start
    const size_t appended = static_cast<size_t>(size - from);
    out.text = ReadAt(source.file, from, std::min(appended, limits.max_bytes));
    out.cut = appended > limits.max_bytes;
  } else {
    ChildProcess::Capture capture = child.TakeCapture();
    out.text = std::move(capture.text);
    out.cut = capture.cut;
  }
  const GoDump dump = ParseGoDump(out.text);
  if (dump.goroutines.empty() && out.error.empty())
    out.error = gone ? "it exited after SIGQUIT without a goroutine dump on its standard error"
                     : "SIGQUIT printed no goroutine";
  out.verdict = GoDumpVerdict(dump);
  // A verdict of a cut dump counts only what it read: say so where the counts are.
  if (out.cut && !out.verdict.empty())
    out.verdict += fmt::format(" (of the first {} goroutines: the dump was cut at {} KiB)", dump.goroutines.size(),
                               limits.max_bytes >> 10);
  co_return out;
}

}  // namespace

bool TreeProcessGone(ChildProcess& child, pid_t pid) {
  if (pid == child.pid()) return child.exit_status().has_value();
  const auto st = ReadProcStat(pid);
  return !st || st->exiting();
}

bool SignalTreeProcess(ChildProcess& child, pid_t pid, int sig) {
  return pid == child.pid() ? child.Signal(sig).ok() : ::kill(pid, sig) == 0;
}

Result<DumpChoice> DumpChoice::Parse(std::string_view text) {
  if (text == "auto") return DumpChoice{Mode::kAuto, Runtime::kNative};
  if (text == "none") return DumpChoice{Mode::kNone, Runtime::kNative};
  if (text == "native") return DumpChoice{Mode::kNative, Runtime::kNative};
  if (text == "go") return DumpChoice{Mode::kForced, Runtime::kGo};
  if (text == "python") return DumpChoice{Mode::kForced, Runtime::kPython};
  if (text == "node") return DumpChoice{Mode::kForced, Runtime::kNode};
  if (text == "jvm") return DumpChoice{Mode::kForced, Runtime::kJvm};
  return Error{fmt::format("--dump: want auto, go, jvm, python, node, native or none, not '{}'", text)};
}

std::string DumpChoice::Name() const {
  switch (mode) {
    case Mode::kAuto: return "auto";
    case Mode::kForced: return std::string(ToString(runtime));
    case Mode::kNative: return "native";
    case Mode::kNone: return "none";
  }
  return "auto";
}

bool DumpChoice::Dumps(Runtime detected, Runtime wanted) const {
  switch (mode) {
    case Mode::kAuto: return detected == wanted;
    case Mode::kForced: return runtime == wanted && (detected == wanted || detected == Runtime::kNative);
    case Mode::kNative:
    case Mode::kNone: return false;
  }
  return false;
}

bool DumpChoice::Arms(Runtime wanted) const {
  return mode == Mode::kAuto || (mode == Mode::kForced && runtime == wanted);
}

boost::asio::awaitable<RuntimeDumps> TakeRuntimeDumps(ChildProcess& child, std::vector<pid_t> pids, DumpChoice choice,
                                                      std::filesystem::path agent_dir, ActiveChildren& active,
                                                      DumpLimits limits) {
  RuntimeDumps out;
  if (choice.mode == DumpChoice::Mode::kNative || choice.mode == DumpChoice::Mode::kNone) co_return out;
  // Deepest first: the list is the leader first, parents before their children.
  std::reverse(pids.begin(), pids.end());
  for (pid_t pid : pids) {
    const Runtime detected = DetectRuntime(pid);
    ProcessStacks dump;
    if (choice.Dumps(detected, Runtime::kGo)) {
      dump = co_await TakeGoDump(child, pid, limits);
    } else if (choice.Dumps(detected, Runtime::kJvm)) {
      dump = co_await TakeJvmDump(child, pid, limits, active);
    } else if (choice.Dumps(detected, Runtime::kPython)) {
      dump = co_await TakePythonDump(child, pid, agent_dir, limits);
    } else if (choice.Dumps(detected, Runtime::kNode)) {
      dump = co_await TakeNodeDump(child, pid, agent_dir, limits);
    } else {
      continue;
    }
    if (!dump.text.empty()) out.answered.push_back(pid);
    out.ended_a_process = out.ended_a_process || TreeProcessGone(child, pid);
    out.dumps.push_back(std::move(dump));
  }
  // In the tree's order, as the native stacks are.
  std::reverse(out.dumps.begin(), out.dumps.end());
  co_return out;
}

}  // namespace coder::harness
