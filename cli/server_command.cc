#include "cli/server_command.h"

#include <fmt/format.h>

#include <cstring>

#include "server/server.h"

namespace coder::cli {
namespace {

// `coder server` blocks the signals it handles before anything else of the process runs: from the
// executable's .preinit_array, which the dynamic loader calls before any library initialiser, static
// constructor or main. A supervisor that signals a server right after spawning it so meets a pending
// signal that the server acts on, not the default action. Only the loader's own work comes earlier; a
// supervisor that must close that window too spawns with the signals blocked, which the server handles.
// Other subcommands keep their own signal handling and are left alone.
void BlockServerSignalsBeforeMain(int argc, char** argv, char** /*envp*/) {
  if (argc > 1 && argv != nullptr && argv[1] != nullptr && std::strcmp(argv[1], "server") == 0)
    server::BlockServerSignals();
}

[[gnu::section(".preinit_array"), gnu::used]] void (*const kBlockServerSignals)(int, char**,
                                                                                char**) = &BlockServerSignalsBeforeMain;

}  // namespace

ServerCommand::ServerCommand(CLI::App& parent)
    : app_(parent.add_subcommand("server", "Run the coder HTTP/WebSocket server until SIGINT or SIGTERM")) {
  auto& f = flags_;
  // Every value is taken as text and checked by ParseServerFlags: CLI11 2.1.2 would validate an
  // env-backed option even when another subcommand runs.
  app_->add_option("--http-address", f.http_address, "HOST:PORT to serve on; port 0 picks a free port")
      ->envname("CODER_HTTP_ADDRESS")
      ->capture_default_str();
  app_->add_flag("--ai-gateway-enabled{true}", f.ai_gateway_enabled,
                 "Run the in-memory AI gateway daemon (--ai-gateway-enabled=false turns it off)")
      ->envname("CODER_AI_GATEWAY_ENABLED")
      ->capture_default_str();
  app_->add_option("--ai-gateway-upstream-url", f.ai_gateway_upstream_url,
                   "http:// URL the AI gateway proxies /api/v2/aibridge/<provider>/<path> to")
      ->envname("CODER_AI_GATEWAY_UPSTREAM_URL");
  app_->add_option("--config-dir", f.config_dir,
                   "Directory for the url and session files and undelivered notifications "
                   "(default $XDG_CONFIG_HOME/coderv2 or ~/.config/coderv2)")
      ->envname("CODER_CONFIG_DIR");
  app_->add_option("--shutdown-order", f.shutdown_order,
                   "patched closes the AI gateway before waiting on WebSockets; unpatched reproduces the "
                   "pre-fix order and its timeout tail")
      ->envname("CODER_SHUTDOWN_ORDER")
      ->capture_default_str();
  app_->add_option("--websocket-shutdown-timeout", f.websocket_shutdown_timeout,
                   "How long shutdown waits for the WebSocket wait group")
      ->envname("CODER_WEBSOCKET_SHUTDOWN_TIMEOUT")
      ->capture_default_str();
  app_->add_option("--http-drain-timeout", f.http_drain_timeout, "How long shutdown waits for in-flight HTTP requests")
      ->envname("CODER_HTTP_DRAIN_TIMEOUT")
      ->capture_default_str();
  app_->add_option("--notifications-drain-timeout", f.notifications_drain_timeout,
                   "How long shutdown waits for watchers to take pending notifications before keeping them")
      ->envname("CODER_NOTIFICATIONS_DRAIN_TIMEOUT")
      ->capture_default_str();
  app_->add_option("--http-read-timeout", f.http_read_timeout,
                   "How long a client may take to send a request (headers and body) from its first byte")
      ->envname("CODER_HTTP_READ_TIMEOUT")
      ->capture_default_str();
  app_->add_option("--http-idle-timeout", f.http_idle_timeout,
                   "How long a connection may wait between requests (or before its first) before it is closed")
      ->envname("CODER_HTTP_IDLE_TIMEOUT")
      ->capture_default_str();
  app_->add_option("--notifications-queue-size", f.notifications_queue_size,
                   "Undelivered notifications accepted before POST answers 429")
      ->envname("CODER_NOTIFICATIONS_QUEUE_SIZE")
      ->capture_default_str();
  app_->add_option("--max-connections", f.max_connections,
                   "HTTP connections and WebSockets served at once (0: half the open-file limit, less a "
                   "reserve); past it idle connections are closed and only /healthz is served")
      ->envname("CODER_MAX_CONNECTIONS")
      ->capture_default_str();
  app_->add_option("--log-format", f.log_format, "human or json")->envname("CODER_LOG_FORMAT")->capture_default_str();
}

int ServerCommand::Run() const {
  auto options = server::ParseServerFlags(flags_);
  if (!options) {
    fmt::print(stderr, "coder server: {}\n", options.error().message);
    return server::kExitUsage;
  }
  return server::RunServer(*options);
}

}  // namespace coder::cli
