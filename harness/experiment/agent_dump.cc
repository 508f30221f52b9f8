#include "harness/experiment/agent_dump.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/duration.h"
#include "common/file_util.h"
#include "harness/analysis/node_report.h"
#include "harness/analysis/python_dump.h"
#include "harness/process/loop_await.h"
#include "harness/process/proc_fs.h"

namespace coder::harness {
namespace {

using Clock = std::chrono::steady_clock;

// Python 3 only (a Python 2 interpreter skips it); faulthandler writes from its C signal handler, so
// the file object is kept alive in `held`. The header line names the main thread, which faulthandler
// does not. What fails in arming is swallowed: the target must run as it would without the harness,
// and the harness sees the missing handler (SigCgt) and says so. The chained sitecustomize's own
// errors are not swallowed: Python reports them as it would have.
constexpr std::string_view kSiteCustomize =
    R"py(# Written by coder diag shutdown --dump: on CODER_DUMP_SIGNAL, faulthandler appends every thread's
# Python stack to CODER_DUMP_DIR/PID.txt. Then the sitecustomize the program would have had runs.
import sys


def _coder_dump():
    import os
    directory = os.environ.get("CODER_DUMP_DIR")
    signum = os.environ.get("CODER_DUMP_SIGNAL")
    if not directory or not signum:
        return
    import _thread
    import faulthandler
    signum = int(signum)
    held = []

    def arm():
        path = os.path.join(directory, "%d.txt" % os.getpid())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            f = os.fdopen(fd, "a", buffering=1)
            f.write("# coder-dump python main-thread=0x%x stdlib=%s\n"
                    % (_thread.get_ident(), os.path.dirname(os.__file__)))
            f.flush()
            faulthandler.register(signum, file=f, all_threads=True, chain=False)
            held[:] = [f]
        except Exception:
            pass

    arm()
    os.register_at_fork(after_in_child=arm)


def _coder_chain():
    import importlib.machinery
    import importlib.util
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    path = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


if sys.version_info[0] >= 3:
    try:
        _coder_dump()
    except Exception:
        pass
    _coder_chain()
)py";

std::string NodeDirectoryOption(const std::filesystem::path& dir) {
  return fmt::format("--report-directory=\"{}\"", dir.string());
}

// The size of the regular file `path`, not following a link; nullopt when there is none.
std::optional<off_t> RegularFileSize(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return st.st_size;
}

// Bytes [from, from + max) of the regular file `path`, opened without following a link. "" on any
// failure: what the agent wrote is in a directory only the harness's user can write.
std::string ReadRange(const std::filesystem::path& path, off_t from, size_t max) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return "";
  struct stat st {};
  std::string out = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? ReadAt(fd, from, max) : "";
  ::close(fd);
  return out;
}

ProcessStacks Attempt(ChildProcess& child, pid_t pid, Runtime runtime, const char* tool) {
  ProcessStacks out;
  out.pid = static_cast<int>(pid);
  out.tool = tool;
  out.runtime = std::string(ToString(runtime));
  out.at_ms = MsBetween(child.started_at(), Clock::now());
  return out;
}

/// Why `pid` would not answer `sig`, or "" when it is armed: its environment must be this run's (a
/// wrapper may clear it) and it must catch the signal (the agent ran).
std::string WhyNotArmed(pid_t pid, int sig, const std::string& sig_name, bool env_is_ours, const char* how) {
  if (!env_is_ours)
    return fmt::format("its environment is not the one the harness armed (a wrapper replaced it?): {} was not sent",
                       sig_name);
  if (!SignalCaught(pid, sig)) return fmt::format("it does not catch {}: {}; {} was not sent", sig_name, how, sig_name);
  return "";
}

std::vector<std::string> ReportsOf(const std::filesystem::path& dir, pid_t pid) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (IsNodeReportOf(name, pid)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The larger bound on a report file: its environment variables and shared objects make it tens of
// KiB, and its text is kept only as NodeReportText, which `max_bytes` bounds.
constexpr size_t kMaxReportBytes = 64 << 20;

}  // namespace

// "report.20261207.151442.1886.0.001.json": Node's name for a report of pid 1886. The pid is the fourth
// field: found anywhere, pid 151442 would take another process's report written at 15:14:42.
bool IsNodeReportOf(std::string_view name, pid_t pid) {
  if (!name.starts_with("report.") || !name.ends_with(".json")) return false;
  size_t start = 0;
  for (int field = 0; field < 3; ++field) {
    start = name.find('.', start);
    if (start == std::string_view::npos) return false;
    ++start;
  }
  const size_t end = name.find('.', start);
  return end != std::string_view::npos && name.substr(start, end - start) == std::to_string(pid);
}

int PythonDumpSignal() { return SIGRTMIN + 6; }
std::string PythonDumpSignalName() { return "SIGRTMIN+6"; }

Result<std::vector<std::pair<std::string, std::string>>> ArmDumpAgents(
    const std::filesystem::path& dir, bool python, bool node,
    const std::function<std::optional<std::string>(std::string_view)>& existing) {
  std::vector<std::pair<std::string, std::string>> env;
  if (python) {
    if (Status written = WriteFileAtomically(dir / "sitecustomize.py", kSiteCustomize, 0600); !written.ok())
      return written.error();
    const auto path = existing("PYTHONPATH");
    env.emplace_back("PYTHONPATH", path && !path->empty() ? dir.string() + ":" + *path : dir.string());
    env.emplace_back("CODER_DUMP_DIR", dir.string());
    env.emplace_back("CODER_DUMP_SIGNAL", std::to_string(PythonDumpSignal()));
  }
  // NODE_OPTIONS splits on spaces outside double quotes and has no escape for a quote itself.
  const std::string d = dir.string();
  if (node && d.find_first_of("\"\\") == std::string::npos) {
    const auto options = existing("NODE_OPTIONS");
    std::string value = options && !options->empty() ? *options + " " : "";
    value += fmt::format("--report-on-signal --report-signal=SIGPWR {}", NodeDirectoryOption(dir));
    env.emplace_back("NODE_OPTIONS", std::move(value));
  }
  return env;
}

boost::asio::awaitable<ProcessStacks> TakePythonDump(ChildProcess& child, pid_t pid, const std::filesystem::path& dir,
                                                     const DumpLimits& limits) {
  ProcessStacks out = Attempt(child, pid, Runtime::kPython, "faulthandler");
  const int sig = PythonDumpSignal();
  const auto marker = EnvironmentValue(pid, "CODER_DUMP_DIR");
  out.error = WhyNotArmed(pid, sig, PythonDumpSignalName(), !dir.empty() && marker == dir.string(),
                          "the harness's sitecustomize did not run (python -I, -E or -S ignore it, as does a "
                          "program that replaces faulthandler's handler)");
  if (!out.error.empty()) co_return out;
  const auto file = dir / fmt::format("{}.txt", pid);
  const off_t before = RegularFileSize(file).value_or(0);
  const auto sent_at = Clock::now();
  if (!SignalTreeProcess(child, pid, sig)) {
    out.error = fmt::format("the process was gone before {} reached it", PythonDumpSignalName());
    co_return out;
  }
  // faulthandler writes the dump in pieces from the signal handler: it is whole once the file has
  // grown and then stayed the same for a moment.
  off_t size = before;
  auto changed_at = sent_at;
  auto pause = std::chrono::microseconds(500);
  for (;;) {
    const auto now = Clock::now();
    if (const off_t s = RegularFileSize(file).value_or(size); s != size) {
      size = s;
      changed_at = now;
    }
    if (size > before && now - changed_at >= std::chrono::milliseconds(50)) break;
    if (size == before && now >= sent_at + limits.answer_timeout) {
      out.error = TreeProcessGone(child, pid)
                      ? fmt::format("it exited before it wrote its stacks for {}", PythonDumpSignalName())
                      : fmt::format("no Python stacks within {} ms of {}", limits.answer_timeout.count(),
                                    PythonDumpSignalName());
      co_return out;
    }
    if (now >= sent_at + limits.finish_timeout) {
      out.error = fmt::format("its stacks were still being written {} ms after {}; kept what was there",
                              limits.finish_timeout.count(), PythonDumpSignalName());
      break;
    }
    co_await SleepUntil(now + pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(10));
  }
  // The header the process wrote when it was armed, then this dump alone.
  std::string header = ReadRange(file, 0, 4096);
  header.resize(header.find('\n') == std::string::npos ? 0 : header.find('\n') + 1);
  const size_t appended = static_cast<size_t>(size - before);
  out.cut = appended > limits.max_bytes;
  out.text = header + ReadRange(file, before, std::min(appended, limits.max_bytes));
  const PythonDump dump = ParsePythonDump(out.text);
  out.verdict = PythonDumpVerdict(dump);
  if (dump.threads.empty() && out.error.empty()) out.error = "what it wrote holds no thread";
  co_return out;
}

boost::asio::awaitable<ProcessStacks> TakeNodeDump(ChildProcess& child, pid_t pid, const std::filesystem::path& dir,
                                                   const DumpLimits& limits) {
  ProcessStacks out = Attempt(child, pid, Runtime::kNode, "node-report");
  const auto options = EnvironmentValue(pid, "NODE_OPTIONS");
  const bool ours = !dir.empty() && options && options->find(NodeDirectoryOption(dir)) != std::string::npos;
  out.error = WhyNotArmed(pid, kNodeReportSignal, "SIGPWR", ours,
                          "its --report-on-signal was not taken (an older Node, or a program with its own SIGPWR "
                          "handler)");
  if (!out.error.empty()) co_return out;
  const std::vector<std::string> earlier = ReportsOf(dir, pid);
  const auto sent_at = Clock::now();
  if (!SignalTreeProcess(child, pid, kNodeReportSignal)) {
    out.error = "the process was gone before SIGPWR reached it";
    co_return out;
  }
  auto pause = std::chrono::microseconds(500);
  std::string parse_error;
  for (;;) {
    const auto now = Clock::now();
    std::vector<std::string> reports = ReportsOf(dir, pid);
    std::erase_if(reports,
                  [&](const auto& r) { return std::find(earlier.begin(), earlier.end(), r) != earlier.end(); });
    if (!reports.empty()) {
      const auto path = dir / reports.back();
      const size_t size = static_cast<size_t>(RegularFileSize(path).value_or(0));
      if (size > kMaxReportBytes) {
        out.error = fmt::format("its report is {} MiB, more than the {} MiB read", size >> 20, kMaxReportBytes >> 20);
        co_return out;
      }
      // Node writes the file in pieces: it is whole when it parses.
      auto report = ParseNodeReport(ReadRange(path, 0, size));
      if (report) {
        out.text = NodeReportText(*report);
        out.cut = out.text.size() > limits.max_bytes;
        if (out.cut) out.text.resize(limits.max_bytes);
        out.verdict = NodeReportVerdict(*report);
        co_return out;
      }
      parse_error = report.error().message;
    }
    if (reports.empty() && now >= sent_at + limits.answer_timeout) {
      out.error = TreeProcessGone(child, pid)
                      ? "it exited before it wrote a report for SIGPWR"
                      : fmt::format(
                            "no report within {} ms of SIGPWR: Node writes it from its event loop, so "
                            "JavaScript that does not return to the loop (a busy loop, a synchronous "
                            "wait) never answers",
                            limits.answer_timeout.count());
      co_return out;
    }
    if (now >= sent_at + limits.finish_timeout) {
      out.error =
          fmt::format("its report was not whole {} ms after SIGPWR: {}", limits.finish_timeout.count(), parse_error);
      co_return out;
    }
    co_await SleepUntil(now + pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(10));
  }
}

}  // namespace coder::harness
