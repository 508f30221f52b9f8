#pragma once

#include <signal.h>
#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "harness/experiment/runtime_dump.h"
#include "harness/measure/measurements.h"
#include "harness/process/child_process.h"

namespace coder::harness {

/// Python and Node.js print where they wait only from inside: the harness arms each at the launch
/// through its environment, and the armed process answers a signal by writing its dump into the run's
/// agent directory (0700, the harness's own).
///  - Python: PYTHONPATH gets the directory first, whose sitecustomize.py registers faulthandler on
///    SIGRTMIN+6 (every thread's Python frames, from a C signal handler: a thread stuck in a lock or a
///    C call answers too) into DIR/PID.txt, again in each forked child, and then runs the
///    sitecustomize the target would have run without it.
///  - Node.js: NODE_OPTIONS gets --report-on-signal for SIGPWR into the directory: the JavaScript stack
///    and libuv's handles. Node writes it from its event loop, so JavaScript that never returns to the
///    loop never answers.
int PythonDumpSignal();  ///< SIGRTMIN+6
inline constexpr int kNodeReportSignal = SIGPWR;
std::string PythonDumpSignalName();  ///< "SIGRTMIN+6"

/// The environment that arms the agents for `dir`, after writing `dir`/sitecustomize.py (when Python is
/// armed). `existing(name)` is the value the target would see without the harness (its --env, else the
/// harness's own environment): PYTHONPATH and NODE_OPTIONS are kept behind the harness's additions.
/// An Error when the file cannot be written; a directory whose path NODE_OPTIONS cannot quote leaves
/// Node unarmed (TakeNodeDump then says so). Not thread-safe with other writers of `dir`.
Result<std::vector<std::pair<std::string, std::string>>> ArmDumpAgents(
    const std::filesystem::path& dir, bool python, bool node,
    const std::function<std::optional<std::string>(std::string_view)>& existing);

/// Asks the Python process `pid` for every thread's stack (PythonDumpSignal) and reads its answer off
/// `dir`/PID.txt: the header line and what the signal appended, bounded by `limits`. Not sent when the
/// process is not armed (its environment names another directory, or it does not catch the signal:
/// python -I/-E/-S, a cleared environment), which the error says. The process keeps running. Call on
/// the loop.
boost::asio::awaitable<ProcessStacks> TakePythonDump(ChildProcess& child, pid_t pid, const std::filesystem::path& dir,
                                                     const DumpLimits& limits);

/// Whether `name` is Node's file name for a report of `pid` ("report.DATE.TIME.PID.TID.SEQ.json"). Pure.
bool IsNodeReportOf(std::string_view name, pid_t pid);

/// Asks the Node.js process `pid` for a diagnostic report (SIGPWR) and reads it off `dir` once it is
/// whole: the text kept is NodeReportText (never the report's environment variables), with its verdict.
/// Not sent when the process is not armed, which the error says. The process keeps running. Call on
/// the loop.
boost::asio::awaitable<ProcessStacks> TakeNodeDump(ChildProcess& child, pid_t pid, const std::filesystem::path& dir,
                                                   const DumpLimits& limits);

}  // namespace coder::harness
