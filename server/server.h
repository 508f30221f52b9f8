#pragma once

#include "server/options.h"

namespace coder::server {

/// Exit codes of `coder server`.
inline constexpr int kExitClean = 0;
inline constexpr int kExitFailed = 1;    // could not start or serve: port in use, unwritable config dir
inline constexpr int kExitUsage = 2;     // bad flag or environment value
inline constexpr int kExitForceQuit = 3; // SIGQUIT: state dumped, no graceful shutdown

/// Runs `coder server` until SIGINT or SIGTERM, then its graceful shutdown plan. Returns the exit code.
/// Must be called before the process creates any thread (signals are blocked process-wide first).
int RunServer(const ServerOptions& options);

}  // namespace coder::server
