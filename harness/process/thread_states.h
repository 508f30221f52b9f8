#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace coder::harness {

/// What the kernel says one thread is doing, read from /proc without stopping it (no ptrace).
struct ThreadState {
  int tid = 0;
  std::string name;     ///< its comm ("nginx", "node", "tokio-runtime-w")
  char state = '?';     ///< of /proc/PID/task/TID/stat: 'R' running, 'S' sleeping, 'D' uninterruptible, ...
  std::string syscall;  ///< the system call it is blocked in ("futex", "epoll_wait"), "running", or "" when unknown
  std::string wchan;    ///< the kernel function it sleeps in, when the kernel tells (else "")
  bool operator==(const ThreadState&) const = default;
};

/// The threads of one process.
struct ProcessThreads {
  int pid = 0;
  std::string name;  ///< the process's comm
  std::vector<ThreadState> threads;
  uint64_t threads_omitted = 0;  ///< threads past the limit, not listed
  bool operator==(const ProcessThreads&) const = default;
};

/// The name of x86-64 system call `number` ("futex"); "syscall N" for one not in the table, which
/// holds the calls a blocked server sits in and their neighbours. Pure; thread-safe.
std::string SyscallName(long number);

/// The system call of a /proc/PID/syscall text: "202 0x... ..." → "futex", "running" → "running",
/// "-1 ..." (blocked in the kernel outside a call) → "in kernel"; "" for text that does not parse.
/// Pure; thread-safe.
std::string SyscallOfProcText(std::string_view text);

/// The threads of `pid`, the leader first, at most `max_threads` (the rest counted). /proc/PID/syscall
/// needs the right to ptrace the process: without it, `syscall` stays "" and the state and wchan still
/// say where it sleeps. An empty `threads` when the process is gone. Thread-safe.
ProcessThreads ThreadsOf(pid_t pid, size_t max_threads);

}  // namespace coder::harness
