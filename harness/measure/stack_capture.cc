#include "harness/measure/stack_capture.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "harness/process/active_children.h"
#include "harness/process/child_process.h"
#include "harness/process/spawn.h"

namespace coder::harness {

using Clock = std::chrono::steady_clock;

Result<StackTool> FindStackTool(std::string_view choice, const std::optional<std::string>& path_env) {
  std::vector<std::string_view> names;
  if (choice == "auto") names = {"eu-stack", "gdb"};
  else if (choice == "eu-stack" || choice == "gdb") names = {choice};
  else return Error{fmt::format("unknown stack tool '{}': want auto, eu-stack or gdb", choice)};
  for (std::string_view name : names) {
    if (auto path = ResolveExecutable(std::string(name), path_env)) return StackTool{std::string(name), *path};
  }
  if (choice == "auto") {
    return Error{"neither eu-stack nor gdb is in PATH: install one (Debian: apt-get install elfutils, or gdb)"};
  }
  return Error{
      fmt::format("{} is not in PATH (Debian: apt-get install {})", choice, choice == "gdb" ? "gdb" : "elfutils")};
}

std::vector<std::string> StackToolArgv(const StackTool& tool, pid_t pid) {
  const std::string p = std::to_string(pid);
  if (tool.name == "gdb") {
    // -nx: no user .gdbinit can change the output or hang on a prompt; batch mode detaches at the end.
    return {tool.path, "-nx", "-q", "-batch", "-p", p, "-ex", "set pagination off", "-ex", "thread apply all bt"};
  }
  return {tool.path, "-p", p};
}

bool StacksAreComplete(std::string_view text, std::string_view tool, size_t threads) {
  const std::string_view header = tool == "gdb" ? "Thread " : "TID ";
  size_t blocks = 0;
  bool open_block_has_frame = true;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    // eu-stack: "TID 123:"; gdb: "Thread 2 (Thread 0x7f.. (LWP 123) \"name\"):" or "Thread 2 (LWP 123 ...):".
    if (line.substr(0, header.size()) == header && line.size() > header.size() && line.back() == ':') {
      if (!open_block_has_frame) return false;
      ++blocks;
      open_block_has_frame = false;
    } else if (blocks > 0 && line.size() > 1 && line[0] == '#' && line[1] >= '0' && line[1] <= '9') {
      open_block_has_frame = true;
    }
  }
  return blocks > 0 && open_block_has_frame && blocks >= threads;
}

namespace {

// Threads of `pid` now; 0 when it is gone.
size_t ThreadCount(pid_t pid) {
  std::error_code ec;
  size_t n = 0;
  for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/task", ec), end; !ec && it != end;
       it.increment(ec))
    ++n;
  return n;
}

ProcessStacks CaptureOne(const StackTool& tool, pid_t pid, Clock::time_point launched, const StackCaptureLimits& limits,
                         ActiveChildren& active) {
  ProcessStacks out;
  out.pid = pid;
  out.tool = tool.name;
  out.at_ms = std::chrono::duration<double, std::milli>(Clock::now() - launched).count();
  const size_t threads_before = ThreadCount(pid);
  // A debuginfod lookup would go to the network for every library, which a CI machine may not reach
  // and which would spend the capture's whole timeout.
  ToolRun run = RunTool(StackToolArgv(tool, pid), {{"DEBUGINFOD_URLS", ""}}, limits.timeout, limits.max_bytes, active);
  if (!run.error.empty()) {
    out.error = std::move(run.error);
    return out;
  }
  // A thread that ended meanwhile has no stack to print; one that started meanwhile may be missed.
  const size_t threads = std::min(threads_before, ThreadCount(pid));
  out.text = std::move(run.text);
  if (!run.exit) {
    out.error = fmt::format("{} did not finish within {} ms; killed", tool.name, limits.timeout.count());
  } else if (run.exit->signaled || (run.exit->code != 0 && !StacksAreComplete(out.text, tool.name, threads))) {
    // eu-stack exits 1 after any warning, e.g. on the DWARF of every Go binary ("no matching address
    // range" below the bottom frame) while every thread's stack is printed: the warnings stay in the
    // text, and only a capture missing stacks is an error.
    out.error = fmt::format("{} ended with {}", tool.name, run.exit->Describe());
  }
  return out;
}

}  // namespace

ToolRun RunTool(std::vector<std::string> argv, std::vector<std::pair<std::string, std::string>> env,
                std::chrono::milliseconds timeout, size_t max_bytes, ActiveChildren& active) {
  ToolRun out;
  LaunchSpec spec;
  spec.argv = std::move(argv);
  spec.env = std::move(env);
  spec.log_capacity_bytes = max_bytes;
  spec.stop_plan = {{StopAction::kKill, std::chrono::seconds(5)}};
  auto started = ChildProcess::Start(std::move(spec));
  if (!started) {
    out.error = started.error().message;
    return out;
  }
  ChildProcess& child = **started;
  if (!active.Add(&child)) {
    out.error = "the harness was interrupted";
    return out;
  }
  struct Registration {
    ActiveChildren& active;
    ChildProcess* child;
    ~Registration() { active.Remove(child); }
  } registration{active, &child};
  out.exit = child.WaitUntil(Clock::now() + timeout);
  child.Stop();
  out.text = child.Output();
  if (child.dropped_bytes() > 0) out.text = fmt::format("[{} earlier bytes cut]\n", child.dropped_bytes()) + out.text;
  return out;
}

std::vector<ProcessStacks> CaptureStacks(const StackTool& tool, const std::vector<pid_t>& pids,
                                         Clock::time_point launched, const StackCaptureLimits& limits,
                                         ActiveChildren& active) {
  std::vector<ProcessStacks> out;
  for (size_t i = 0; i < pids.size() && i < limits.max_processes; ++i) {
    if (active.interrupted()) break;
    out.push_back(CaptureOne(tool, pids[i], launched, limits, active));
  }
  return out;
}

}  // namespace coder::harness
