#pragma once

#include <string>
#include <vector>

#include "harness/measure/measurements.h"

namespace coder::harness {

/// The connections of a snapshot that reach outside the hung tree: TCP sockets neither listening nor
/// joined to another socket of the same snapshot (a server talking to its own worker). The ones a
/// stop usually waits on. Pure.
std::vector<const OpenSocket*> OutsideConnections(const HangSnapshot& hang);

/// One sentence of where the run hung, from the snapshot alone: the connections still open (and who
/// holds their other end, when known), the listeners still open, and what the threads wait in, e.g.
/// "1 connection open: ESTABLISHED 127.0.0.1:8080 ← 127.0.0.1:51234 (the harness's silent client);
/// listener 127.0.0.1:8080 still open; 1 thread, in epoll_wait". Pure; thread-safe.
std::string HangVerdict(const HangSnapshot& hang);

/// HangVerdict with what the runtime dumps among `stacks` said in front, in the runtime's terms:
/// "goroutines of pid 42: main goroutine [select] in main.(*API).Close (main.go:36); ...; 1 connection
/// open: ...". Native stacks add nothing (the snapshot's threads already say what they wait in). Pure.
std::string HangVerdict(const HangSnapshot& hang, const std::vector<ProcessStacks>& stacks);

/// The "where it hung" block as plain lines, for every format that prints one (the table's notes,
/// Markdown, JUnit's system-out): the verdict, then each open socket (at most `max_sockets`) and each
/// process's threads (at most `max_threads` a process), the rest counted. Not terminal-safe: a
/// renderer escapes as its format needs. Pure.
std::vector<std::string> WhereItHungLines(const HangSnapshot& hang, size_t max_sockets = 16, size_t max_threads = 8);
/// WhereItHungLines, then a line for each runtime dump among `stacks`: its verdict, or why it is
/// missing, and whether it was cut.
std::vector<std::string> WhereItHungLines(const HangSnapshot& hang, const std::vector<ProcessStacks>& stacks);

/// What a thread waits in, for grouping: its system call, else its wait channel, else "running" or
/// "state X".
std::string ThreadWait(const ThreadState& t);

}  // namespace coder::harness
