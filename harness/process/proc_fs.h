#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coder::harness {

/// The fields of /proc/<pid>/stat the harness needs.
struct ProcStat {
  pid_t pid = 0;
  char state = '?';  ///< 'R', 'S', 'D', 'Z' (zombie), 'X' (dead), ...
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t session = 0;   ///< the session id: equal to pid for a session leader (a daemon after setsid)
  unsigned flags = 0;  ///< the kernel's PF_* flags of the task (0 when the line was cut short)

  bool dead() const { return state == 'Z' || state == 'X'; }
  /// Dead, or past the point of no return in exit (PF_EXITING): signals no longer reach its code.
  bool exiting() const { return dead() || (flags & 0x4u) != 0; }
};

/// Parses the text of /proc/<pid>/stat. The command name may hold spaces and parentheses, so parsing
/// starts after its last ')'. Pure function; thread-safe.
std::optional<ProcStat> ParseProcStat(std::string_view text);

/// Reads /proc/<pid>/stat; nullopt when the process is gone. Thread-safe.
std::optional<ProcStat> ReadProcStat(pid_t pid);

/// Children of every thread of `pid`, from /proc/<pid>/task/*/children (the kernel lists a child under
/// the thread that forked it). Includes zombies. Empty when the process is gone. Thread-safe.
std::vector<pid_t> ReadChildren(pid_t pid);

/// Every process id currently in /proc. Costs one directory scan of /proc: for tests and low-rate
/// scans, never per sampling tick. Thread-safe.
std::vector<pid_t> ListPids();

/// The hexadecimal signal mask of field `key` ("SigIgn:", "ShdPnd:", ...) in the text of a
/// /proc/<pid>/status; nullopt when the field is missing or malformed. Pure function.
std::optional<uint64_t> StatusSignalMask(std::string_view status, std::string_view key);

/// Whether signal `sig` is pending for `pid` and not yet handled (SigPnd or ShdPnd of /proc/<pid>/status).
/// False when the process is gone or the file cannot be read. Thread-safe.
bool SignalPending(pid_t pid, int sig);

/// Whether `pid` has a handler installed for signal `sig` (SigCgt of /proc/<pid>/status): a signal it
/// catches does not kill it. False when the process is gone or the file cannot be read. Thread-safe.
bool SignalCaught(pid_t pid, int sig);

/// Parses whitespace-separated decimal pids, as in a children file. Pure function.
std::vector<pid_t> ParsePidList(std::string_view text);

/// The value of `name` in `pid`'s environment as it was at execve (/proc/PID/environ, the first
/// 1 MiB); nullopt when it has none or the file cannot be read. Thread-safe.
std::optional<std::string> EnvironmentValue(pid_t pid, std::string_view name);

/// The target of the symbolic link `path` (a /proc/PID/exe or fd entry: "pipe:[123]"); "" when it cannot
/// be read. Thread-safe.
std::string ReadLink(const std::string& path);

/// Reads a whole small file (a /proc entry) with one open/read/close; nullopt on error.
std::optional<std::string> ReadSmallFile(const std::string& path);

}  // namespace coder::harness
