#pragma once

#include <signal.h>

#include "server/options.h"

namespace coder::server {

/// Exit codes of `coder server`.
inline constexpr int kExitClean = 0;
inline constexpr int kExitFailed = 1;     // could not start or serve: port in use, unwritable config dir
inline constexpr int kExitUsage = 2;      // bad flag or environment value
inline constexpr int kExitForceQuit = 3;  // SIGQUIT: state dumped, no graceful shutdown

/// The signals the server acts on. A stop signal starts the graceful shutdown (a later one is logged and
/// ignored); an ignored one is logged; SIGQUIT dumps the state and exits 3. SIGPIPE is ignored outright.
inline constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};
inline constexpr int kIgnoredSignals[] = {SIGUSR1, SIGUSR2};

/// Ignores SIGPIPE, then blocks SIGQUIT and every signal above in the calling thread, so that from then
/// on none can meet its default action; RunServer receives them. Async-signal-safe and allocation-free:
/// the binary calls it from its .preinit_array, before any library's initialiser runs. Idempotent.
void BlockServerSignals();

/// Runs `coder server` until a stop signal (kStopSignals), then its graceful shutdown plan. Returns the exit code.
/// Must be called before the process creates any thread (signals are blocked process-wide first).
int RunServer(const ServerOptions& options);

}  // namespace coder::server
