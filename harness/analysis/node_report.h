#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace coder::harness {

/// One libuv handle of a Node.js diagnostic report ("libuv" array): what keeps its event loop alive.
struct NodeHandle {
  std::string type;  ///< "tcp", "timer", "pipe", "process", "udp", "signal", "fs_event", ...
  bool active = false;
  bool referenced = false;  ///< Referenced and active handles keep the loop, and so the process, alive.
  std::string local;        ///< tcp/udp: "127.0.0.1:8080"; "" otherwise
  std::string remote;       ///< tcp: the peer, "" for a listener
  double fires_in_ms = 0;   ///< timer: firesInMsFromNow
  long pid = 0;             ///< process: the child's pid
};

/// What a Node.js diagnostic report (`--report-on-signal`) says of where the process waits. Only what
/// is kept: the report's environment variables and other fields are never copied (they may hold
/// secrets, and the run's record is an artifact).
struct NodeReport {
  long pid = 0;
  std::string trigger;                ///< "Signal", ...
  std::string js_message;             ///< javascriptStack.message
  std::vector<std::string> js_stack;  ///< "at stop (/srv/app.js:12:5)", innermost first; empty when idle
  std::vector<NodeHandle> handles;    ///< the loop's handles, the "loop" entry left out
};

/// Parses the report's JSON. An Error names what is wrong (not JSON, not a report). Pure.
Result<NodeReport> ParseNodeReport(std::string_view json_text);

/// The report as the lines the run's record keeps: the JavaScript stack, then each active handle. Pure.
std::string NodeReportText(const NodeReport& report);

/// One sentence of what holds the event loop: the JavaScript running, if any ("JavaScript at stop
/// (/srv/app.js:12:5)", else "event loop idle"), then the active referenced handles: open connections
/// named (local ← peer, the first three), listeners, timers, child processes, others counted by type,
/// e.g. "event loop idle; held by 1 open connection 127.0.0.1:8080 ← 127.0.0.1:51234, 1 timer". Pure.
std::string NodeReportVerdict(const NodeReport& report);

}  // namespace coder::harness
