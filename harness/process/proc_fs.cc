#include "harness/process/proc_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <memory>
#include <string>

namespace coder::harness {
namespace {

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

std::optional<pid_t> ParsePid(std::string_view s) {
  pid_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

}  // namespace

std::optional<std::string> ReadSmallFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

std::string ReadLink(const std::string& path) {
  char target[4096];
  const ssize_t n = readlink(path.c_str(), target, sizeof target);
  return n > 0 ? std::string(target, static_cast<size_t>(n)) : std::string();
}

std::optional<std::string> EnvironmentValue(pid_t pid, std::string_view name) {
  const std::string path = "/proc/" + std::to_string(pid) + "/environ";
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  // Bounded: a target's environment is its own to make as large as it likes.
  constexpr size_t kMaxEnvBytes = 1 << 20;
  std::string env;
  char buf[16384];
  for (ssize_t n; env.size() < kMaxEnvBytes && (n = read(fd, buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    env.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  for (size_t at = 0; at < env.size();) {
    const size_t end = std::min(env.find('\0', at), env.size());
    const std::string_view entry(env.data() + at, end - at);
    if (entry.size() > name.size() && entry.substr(0, name.size()) == name && entry[name.size()] == '=')
      return std::string(entry.substr(name.size() + 1));
    at = end + 1;
  }
  return std::nullopt;
}

std::optional<ProcStat> ParseProcStat(std::string_view text) {
  size_t open_paren = text.find('(');
  size_t close_paren = text.rfind(')');
  if (open_paren == std::string_view::npos || close_paren == std::string_view::npos || close_paren < open_paren) {
    return std::nullopt;
  }
  ProcStat st;
  auto pid = ParsePid(text.substr(0, open_paren > 0 ? open_paren - 1 : 0));
  if (!pid) return std::nullopt;
  st.pid = *pid;
  // After ") ": state ppid pgrp ...
  std::string_view rest = text.substr(close_paren + 1);
  auto next_field = [&rest]() -> std::string_view {
    size_t b = rest.find_first_not_of(' ');
    if (b == std::string_view::npos) return {};
    size_t e = rest.find(' ', b);
    std::string_view f = rest.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b);
    rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e);
    return f;
  };
  std::string_view state = next_field();
  std::string_view ppid = next_field();
  std::string_view pgrp = next_field();
  if (state.size() != 1 || ppid.empty() || pgrp.empty()) return std::nullopt;
  st.state = state[0];
  int v = 0;
  if (std::from_chars(ppid.data(), ppid.data() + ppid.size(), v).ec != std::errc()) return std::nullopt;
  st.ppid = v;
  if (std::from_chars(pgrp.data(), pgrp.data() + pgrp.size(), v).ec != std::errc()) return std::nullopt;
  st.pgrp = v;
  // session tty_nr tpgid flags: the task's PF_* flags, which tell a task that has begun to exit.
  if (std::string_view session = next_field(); !session.empty())
    std::from_chars(session.data(), session.data() + session.size(), st.session);
  for (int skip = 0; skip < 2; ++skip) next_field();
  if (std::string_view flags = next_field(); !flags.empty())
    std::from_chars(flags.data(), flags.data() + flags.size(), st.flags);
  return st;
}

std::optional<ProcStat> ReadProcStat(pid_t pid) {
  auto text = ReadSmallFile("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  return ParseProcStat(*text);
}

std::optional<uint64_t> StatusSignalMask(std::string_view status, std::string_view key) {
  const auto at = status.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  const size_t b = status.find_first_not_of(" \t", at + key.size());
  if (b == std::string_view::npos) return std::nullopt;
  const size_t e = status.find('\n', b);
  const std::string_view hex = status.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b);
  uint64_t mask = 0;
  if (std::from_chars(hex.data(), hex.data() + hex.size(), mask, 16).ec != std::errc()) return std::nullopt;
  return mask;
}

bool SignalPending(pid_t pid, int sig) {
  auto text = ReadSmallFile("/proc/" + std::to_string(pid) + "/status");
  if (!text || sig < 1 || sig > 64) return false;
  for (std::string_view key : {"SigPnd:", "ShdPnd:"})
    if (auto mask = StatusSignalMask(*text, key); mask && (*mask >> (sig - 1) & 1u) != 0) return true;
  return false;
}

bool SignalCaught(pid_t pid, int sig) {
  auto text = ReadSmallFile("/proc/" + std::to_string(pid) + "/status");
  if (!text || sig < 1 || sig > 64) return false;
  auto mask = StatusSignalMask(*text, "SigCgt:");
  return mask && (*mask >> (sig - 1) & 1u) != 0;
}

std::vector<pid_t> ParsePidList(std::string_view text) {
  std::vector<pid_t> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t b = text.find_first_of("0123456789", i);
    if (b == std::string_view::npos) break;
    size_t e = text.find_first_not_of("0123456789", b);
    if (e == std::string_view::npos) e = text.size();
    if (auto p = ParsePid(text.substr(b, e - b))) out.push_back(*p);
    i = e;
  }
  return out;
}

std::vector<pid_t> ReadChildren(pid_t pid) {
  std::vector<pid_t> out;
  std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  DirPtr dir(opendir(task_dir.c_str()));
  if (!dir) return out;
  while (dirent* ent = readdir(dir.get())) {
    if (!ParsePid(ent->d_name)) continue;
    if (auto text = ReadSmallFile(task_dir + "/" + ent->d_name + "/children")) {
      auto kids = ParsePidList(*text);
      out.insert(out.end(), kids.begin(), kids.end());
    }
  }
  return out;
}

std::vector<pid_t> ListPids() {
  std::vector<pid_t> out;
  DirPtr dir(opendir("/proc"));
  if (!dir) return out;
  while (dirent* ent = readdir(dir.get())) {
    if (auto p = ParsePid(ent->d_name)) out.push_back(*p);
  }
  return out;
}

}  // namespace coder::harness
