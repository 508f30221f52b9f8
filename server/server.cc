#include "server/server.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <sys/stat.h>
#include <atomic>
#include <iterator>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "common/signal_name.h"
#include "common/signal_watcher.h"
#include "server/ai_gateway.h"
#include "server/config_dir.h"
#include "server/http_api.h"
#include "server/notifications.h"
#include "server/random.h"
#include "server/shutdown_steps.h"

namespace coder::server {
namespace {

namespace net = boost::asio;

constexpr auto kGatewayConnectTimeout = std::chrono::seconds(5);
// Undelivered notifications: the SQLite database, and the JSON file of earlier versions, imported once.
constexpr const char* kStateDatabase = "state.db";
constexpr const char* kLegacyStateFile = "notifications.json";

// What each stop signal is called in the log: ctrl+c, a supervisor's stop, a closed terminal.
std::string_view StopSignalWord(int sig) {
  if (sig == SIGINT) return "Interrupt";
  if (sig == SIGHUP) return "Hangup";
  return "Stop";
}

std::string SignalCaughtLine(int sig) {
  return fmt::format("{} caught, gracefully exiting. Use ctrl+\\ to force quit", StopSignalWord(sig));
}

/// A server holds a descriptor per client: lift the soft limit to the hard one, as Go's runtime does,
/// so thousands of WebSocket clients are not refused at the distribution's default of 1024.
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

/// The connection limit when none is given: each connection may hold a second descriptor (its AI
/// gateway upstream), and the reserve, the listener, state files and the log need theirs.
size_t DefaultMaxConnections() {
  constexpr size_t kDescriptorReserve = 64 + HttpApi::kReserveConnections;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 10000;
  const size_t fds = static_cast<size_t>(limit.rlim_cur);
  return fds > 2 * kDescriptorReserve ? (fds - kDescriptorReserve) / 2 : 16;
}

/// Reuses a well-formed token from an earlier run, else writes a new one (mode 0600). `session` is read
/// only if it is a regular file of ours (never through a symlink: another user's token must not be
/// adopted); a token that group or others could read is no secret any more and is replaced.
Result<std::string> LoadOrCreateToken(const ConfigDir& dir, Logger& log) {
  struct stat st {};
  auto existing = dir.ReadRegular("session", 4096, &st);
  if (!existing)
    return Error{fmt::format("{}; remove it to let the server write a new token", existing.error().message)};
  if (*existing && (*existing)->size() >= 64) {
    std::string token = (*existing)->substr(0, 64);
    const bool well_formed = token.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (well_formed && (st.st_mode & 077) == 0) return token;
    if (well_formed)
      log.Warn("the session token file was readable by group or others; replacing the token",
               {{"path", dir.PathOf("session").string()}, {"mode", fmt::format("{:04o}", st.st_mode & 07777)}});
  }
  std::string token = RandomHex(32);
  if (auto written = dir.WriteAtomically("session", token + "\n", 0600); !written) return written.error();
  return token;
}

/// One run of the server: owns the components, and is the shutdown plan's seam over them.
/// Start/Stop are explicit; the destructor stops as a safety net.
class Server final : public ShutdownTargets {
 public:
  explicit Server(const ServerOptions& options) : options_(options), log_(options.log_format) {}
  ~Server() override { Stop(); }

  int Run();

  std::vector<std::string> DrainHttp(Clock::TimePoint deadline) override { return api_->Drain(deadline); }
  size_t CancelRequests() override { return api_->CancelRequests(); }
  Result<size_t> CloseNotifications(Clock::TimePoint deadline) override {
    auto kept = notifications_->Close(deadline);
    if (!kept) notifications_failed_ = true;
    return kept;
  }
  void CloseAiGateway() override {
    if (gateway_) gateway_->Close();
  }
  size_t CloseWebSockets() override { return api_->CloseWebSockets(); }
  std::vector<std::string> WaitWebSockets(Clock::TimePoint deadline) override {
    return api_->websocket_wait_group().WaitUntil(deadline);
  }

 private:
  Result<std::string> Start();
  void Stop();
  void DumpStateAndQuit();
  /// Set when closing the notifications could not keep everything: the exit is then non-zero.
  std::atomic<bool> notifications_failed_{false};

  const ServerOptions options_;
  Logger log_;
  // Declared before the io_context so it outlives the coroutine frames the io_context destroys.
  std::optional<ConfigDir> config_dir_;
  std::unique_ptr<NotificationsManager> notifications_;
  net::io_context ioc_{1};
  net::executor_work_guard<net::io_context::executor_type> work_{ioc_.get_executor()};
  std::unique_ptr<HttpApi> api_;
  std::unique_ptr<AiGatewayDaemon> gateway_;
  std::unique_ptr<ShutdownPlan> plan_;
  std::thread io_thread_;
  std::atomic<bool> serving_{false};  // publishes the components to the SIGQUIT dump
  std::atomic<ShutdownPlan*> running_plan_{nullptr};
};

int Server::Run() {
  // First, before any thread exists: an early signal must never meet its default action. (The binary
  // blocked these already before main, see cli/server_command.cc; this is where they are received.)
  // SIGHUP stops like SIGTERM: a server whose terminal goes away should stop cleanly, not die. SIGUSR1
  // and SIGUSR2 mean nothing here: a stray one is logged and ignored rather than killing the server.
  auto watcher = SignalWatcher::Start(
      {
          .on_stop = [this](int sig) { log_.Info(SignalCaughtLine(sig)); },
          .on_repeat =
              [this](int sig) {
                log_.Warn(fmt::format("{} caught during shutdown; ignoring it. Use ctrl+\\ to force quit",
                                      StopSignalWord(sig)));
              },
          .on_quit = [this] { DumpStateAndQuit(); },
          .on_ignored =
              [this](int sig) {
                log_.Warn(fmt::format("{} received; coder server gives it no meaning, ignoring it", SignalName(sig)),
                          {{"signal", sig}});
              },
      },
      SignalWatcher::Signals{.stop = std::vector<int>(std::begin(kStopSignals), std::end(kStopSignals)),
                             .ignored = std::vector<int>(std::begin(kIgnoredSignals), std::end(kIgnoredSignals))});
  if (!watcher) {
    log_.Error("installing signal handling failed", {{"error", watcher.error().message}});
    return kExitFailed;
  }
  RaiseOpenFileLimit();
  auto url = Start();
  if (!url) {
    log_.Error(url.error().message);
    Stop();
    return kExitFailed;
  }
  // The url file and the ready line come last: a reader of either may signal at once. A stop that came
  // while starting skips them: the server is already leaving and must not be announced as serving.
  if ((*watcher)->stop_signal() != 0) {
    log_.Info("Stop signal received while starting; not announcing readiness");
  } else if (auto written = config_dir_->WriteAtomically("url", *url + "\n", 0644); !written) {
    log_.Error(written.error().message);
    Stop();
    return kExitFailed;
  } else {
    log_.Info(fmt::format("Started HTTP listener at {}", *url), {{"url", *url}});
  }

  (*watcher)->WaitForStop();
  if (gateway_) gateway_->BeginShutdown();
  plan_ = std::make_unique<ShutdownPlan>(BuildShutdownSteps(options_, *this, log_), log_);
  running_plan_ = plan_.get();
  plan_->Run();
  api_->Close();
  config_dir_->Remove("url");
  Stop();
  if (notifications_failed_) {
    log_.Error("shutdown could not keep every notification's state; exiting 1 (see the error above)");
    return kExitFailed;
  }
  return kExitClean;
}

Result<std::string> Server::Start() {
  auto dir = ConfigDir::Open(options_.config_dir);
  if (!dir) return dir.error();
  config_dir_.emplace(std::move(*dir));
  config_dir_->Remove("url");  // a stale url must not make a reader think we are up
  auto token = LoadOrCreateToken(*config_dir_, log_);
  if (!token) return token.error();

  auto store = NotificationStore::Open(*config_dir_, kStateDatabase, log_);
  if (!store) return store.error();
  notifications_ = std::make_unique<NotificationsManager>(std::move(*store), options_.notifications_queue_size, log_);
  if (auto loaded = notifications_->LoadPending(&*config_dir_, kLegacyStateFile); !loaded) return loaded.error();

  api_ = std::make_unique<HttpApi>(
      ioc_,
      HttpApi::Config{
          .session_token = *token,
          .read_timeout = options_.http_read_timeout,
          .idle_timeout = options_.http_idle_timeout,
          .max_connections = options_.max_connections != 0 ? options_.max_connections : DefaultMaxConnections()},
      *notifications_, log_);
  auto port = api_->Listen(options_.host, options_.port);
  if (!port) return port.error();
  const std::string host = options_.host.find(':') != std::string::npos ? "[" + options_.host + "]" : options_.host;
  std::string url = fmt::format("http://{}:{}", host, *port);
  api_->SetBuildInfo({{"version", CODER_VERSION},
                      {"commit", CODER_COMMIT},
                      {"external_url", url},
                      {"shutdown_order", ToString(options_.shutdown_order)},
                      {"ai_gateway_enabled", options_.ai_gateway_enabled},
                      {"websocket_shutdown_timeout_ms", ToSeconds(options_.websocket_shutdown_timeout) * 1e3}});

  if (options_.ai_gateway_enabled) {
    gateway_ = std::make_unique<AiGatewayDaemon>(
        ioc_, [api = api_.get()] { return api->DialInMemoryRpc(); }, options_.ai_gateway_upstream, log_);
    api_->SetAiGatewayHandler([gateway = gateway_.get()](ApiRequest r) { return gateway->Handle(std::move(r)); });
  }
  api_->StartAccepting();
  io_thread_ = std::thread([this] { ioc_.run(); });
  if (gateway_) {
    gateway_->Start();
    // Ready means every component serves: a signal right after the ready line meets the daemon's
    // session in place, as it would in production, so the two shutdown orders differ reproducibly.
    if (!gateway_->WaitConnected(std::chrono::steady_clock::now() + kGatewayConnectTimeout))
      log_.Warn("AI gateway daemon has not connected to the API yet; serving anyway");
  }
  serving_ = true;
  return url;
}

void Server::Stop() {
  work_.reset();
  ioc_.stop();
  if (io_thread_.joinable()) io_thread_.join();
}

void Server::DumpStateAndQuit() {
  std::string out = "=== coder server state (SIGQUIT) ===\n";
  if (auto* plan = running_plan_.load()) {
    out += fmt::format("shutdown: running, step \"{}\"\n", plan->CurrentStep());
  } else {
    out += "shutdown: not started\n";
  }
  if (serving_) {
    out += api_->DumpState();
    out += gateway_ ? gateway_->DumpState() : std::string("ai gateway: disabled\n");
    out +=
        fmt::format("notifications: pending={} watchers={}\n", notifications_->pending(), notifications_->watchers());
  }
  out += "=== end of state ===\n";
  log_.WriteRaw(out);
  ::_exit(kExitForceQuit);
}

}  // namespace

void BlockServerSignals() {
  // SIGPIPE first: a supervisor that waits for the blocked mask in /proc before signalling must find
  // SIGPIPE already ignored (ThreadSanitizer's sigaction interceptor made that window wide enough for
  // the signal storm test to hit).
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, nullptr);
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kStopSignals) sigaddset(&set, sig);
  for (int sig : kIgnoredSignals) sigaddset(&set, sig);
  sigaddset(&set, SIGQUIT);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
}

int RunServer(const ServerOptions& options) {
  Server server(options);
  return server.Run();
}

}  // namespace coder::server
