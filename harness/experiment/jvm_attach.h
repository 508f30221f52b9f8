#pragma once

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>

#include "harness/experiment/runtime_dump.h"
#include "harness/measure/measurements.h"
#include "harness/process/child_process.h"

namespace coder::harness {

class ActiveChildren;

/// Every thread of the JVM `pid`, with the locks each holds and waits for: `jcmd PID Thread.print -l`
/// (the target's own JDK's jcmd, beside its `java`, else the first on PATH), bounded by `limits` and a
/// 10 s timeout. Where jcmd cannot attach (none installed, -XX:+DisableAttachMechanism, another user's
/// JVM) it falls back to SIGQUIT, on which the JVM prints the same dump on its stdout: read as a capture
/// apart from the log, and only sent when that stdout is the harness's pipe and the JVM catches SIGQUIT
/// (not -Xrs, which SIGQUIT would kill). The JVM keeps running either way. Call on the loop; the jcmd
/// process is registered in `active`.
boost::asio::awaitable<ProcessStacks> TakeJvmDump(ChildProcess& child, pid_t pid, const DumpLimits& limits,
                                                  ActiveChildren& active);

}  // namespace coder::harness
