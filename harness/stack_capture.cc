#include "harness/stack_capture.h"

#include <fmt/format.h>

#include <algorithm>

#include "harness/child_process.h"
#include "harness/run.h"
#include "harness/spawn.h"

namespace coder::harness {

using Clock = std::chrono::steady_clock;

Result<StackTool> FindStackTool(std::string_view choice, const std::string& path_env) {
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
  return Error{fmt::format("{} is not in PATH (Debian: apt-get install {})", choice,
                           choice == "gdb" ? "gdb" : "elfutils")};
}

std::vector<std::string> StackToolArgv(const StackTool& tool, pid_t pid) {
  const std::string p = std::to_string(pid);
  if (tool.name == "gdb") {
    // -nx: no user .gdbinit can change the output or hang on a prompt; batch mode detaches at the end.
    return {tool.path, "-nx", "-q", "-batch", "-p", p, "-ex", "set pagination off", "-ex", "thread apply all bt"};
  }
  return {tool.path, "-p", p};
}

namespace {

ProcessStacks CaptureOne(const StackTool& tool, pid_t pid, Clock::time_point launched,
                         const StackCaptureLimits& limits, ActiveChildren& active) {
  ProcessStacks out;
  out.pid = pid;
  out.tool = tool.name;
  out.at_ms = std::chrono::duration<double, std::milli>(Clock::now() - launched).count();
  LaunchSpec spec;
  spec.argv = StackToolArgv(tool, pid);
  spec.log_capacity_bytes = limits.max_bytes;
  // A debuginfod lookup would go to the network for every library, which a CI machine may not reach
  // and which would spend the capture's whole timeout.
  spec.env = {{"DEBUGINFOD_URLS", ""}};
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
  auto exit = child.WaitUntil(Clock::now() + limits.timeout);
  child.Stop();
  out.text = child.Output();
  if (child.dropped_bytes() > 0) {
    out.text = fmt::format("[{} earlier bytes cut]\n", child.dropped_bytes()) + out.text;
  }
  if (!exit) {
    out.error = fmt::format("{} did not finish within {} ms; killed", tool.name, limits.timeout.count());
  } else if (exit->signaled || exit->code != 0) {
    // eu-stack exits non-zero when one thread could not be unwound, yet prints the others.
    out.error = fmt::format("{} ended with {}", tool.name, exit->Describe());
  }
  return out;
}

}  // namespace

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
