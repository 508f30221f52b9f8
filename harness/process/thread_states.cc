#include "harness/process/thread_states.h"

#include <dirent.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <optional>

#include "harness/process/proc_fs.h"

namespace coder::harness {
namespace {

std::string Trimmed(std::optional<std::string> text) {
  if (!text) return "";
  while (!text->empty() && (text->back() == '\n' || text->back() == ' ')) text->pop_back();
  return *text;
}

std::vector<int> TaskIds(pid_t pid) {
  std::vector<int> out;
  DIR* d = opendir(fmt::format("/proc/{}/task", pid).c_str());
  if (d == nullptr) return out;
  while (dirent* ent = readdir(d)) {
    int tid = 0;
    const std::string_view name(ent->d_name);
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), tid);
    if (ec == std::errc() && end == name.data() + name.size()) out.push_back(tid);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  // The leader first: its tid is the pid.
  std::stable_partition(out.begin(), out.end(), [&](int tid) { return tid == pid; });
  return out;
}

}  // namespace

std::string SyscallName(long number) {
  // x86-64's numbers (arch/x86/entry/syscalls/syscall_64.tbl): the calls a waiting process sits in.
  struct Named {
    long number;
    const char* name;
  };
  static constexpr Named kNames[] = {
      {0, "read"},
      {1, "write"},
      {7, "poll"},
      {17, "pread64"},
      {23, "select"},
      {24, "sched_yield"},
      {34, "pause"},
      {35, "nanosleep"},
      {42, "connect"},
      {43, "accept"},
      {44, "sendto"},
      {45, "recvfrom"},
      {46, "sendmsg"},
      {47, "recvmsg"},
      {48, "shutdown"},
      {61, "wait4"},
      {72, "fcntl"},
      {74, "fsync"},
      {128, "rt_sigtimedwait"},
      {130, "rt_sigsuspend"},
      {202, "futex"},
      {230, "clock_nanosleep"},
      {232, "epoll_wait"},
      {247, "waitid"},
      {270, "pselect6"},
      {271, "ppoll"},
      {281, "epoll_pwait"},
      {288, "accept4"},
      {299, "recvmmsg"},
      {307, "sendmmsg"},
      {426, "io_uring_enter"},
      {441, "epoll_pwait2"},
      {449, "futex_waitv"},
  };
#if defined(__x86_64__)
  for (const Named& n : kNames)
    if (n.number == number) return n.name;
#endif
  return fmt::format("syscall {}", number);
}

std::string SyscallOfProcText(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (text == "running") return "running";
  const std::string_view first = text.substr(0, text.find(' '));
  long number = 0;
  auto [end, ec] = std::from_chars(first.data(), first.data() + first.size(), number);
  if (ec != std::errc() || end != first.data() + first.size() || first.empty()) return "";
  if (number < 0) return "in kernel";
  return SyscallName(number);
}

ProcessThreads ThreadsOf(pid_t pid, size_t max_threads) {
  ProcessThreads out;
  out.pid = pid;
  out.name = Trimmed(ReadSmallFile(fmt::format("/proc/{}/comm", pid)));
  const std::vector<int> tids = TaskIds(pid);
  for (int tid : tids) {
    if (out.threads.size() >= max_threads) {
      out.threads_omitted = tids.size() - out.threads.size();
      break;
    }
    const std::string dir = fmt::format("/proc/{}/task/{}/", pid, tid);
    const auto stat = ReadSmallFile(dir + "stat");
    if (!stat) continue;  // the thread ended meanwhile
    ThreadState t;
    t.tid = tid;
    if (auto parsed = ParseProcStat(*stat)) t.state = parsed->state;
    t.name = Trimmed(ReadSmallFile(dir + "comm"));
    if (auto text = ReadSmallFile(dir + "syscall")) t.syscall = SyscallOfProcText(*text);
    t.wchan = Trimmed(ReadSmallFile(dir + "wchan"));
    if (t.wchan == "0") t.wchan.clear();  // running, or the kernel hides it
    out.threads.push_back(std::move(t));
  }
  return out;
}

}  // namespace coder::harness
