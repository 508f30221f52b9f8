#include "bench/server_process.h"

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace coder::bench {
namespace {

constexpr std::string_view kReady = "Started HTTP listener at ";

}  // namespace

Result<std::unique_ptr<BenchServer>> BenchServer::Start(const ServerConfig& config) {
  auto dir = test_support::TempDir::Create("bench");
  if (!dir) return Error{dir.error().message};
  auto server = std::unique_ptr<BenchServer>(new BenchServer(std::move(*dir)));

  harness::LaunchSpec spec;
  spec.argv = {CODER_BINARY_PATH,
               "server",
               "--http-address",
               "127.0.0.1:0",
               "--config-dir",
               (server->dir_.path() / "config").string(),
               config.gateway ? "--ai-gateway-enabled=true" : "--ai-gateway-enabled=false",
               "--shutdown-order",
               config.unpatched ? "unpatched" : "patched"};
  if (!config.websocket_timeout.empty()) {
    spec.argv.push_back("--websocket-shutdown-timeout");
    spec.argv.push_back(config.websocket_timeout);
  }
  spec.argv.insert(spec.argv.end(), config.extra_args.begin(), config.extra_args.end());
  // A run that fails must not wait the default 2 s + 5 s stop plan: SIGKILL at once.
  spec.stop_plan = {{harness::StopAction::kKill, std::chrono::milliseconds(2000)}};

  server->launched_at_ = Clock::now();
  auto child = harness::ChildProcess::Start(std::move(spec));
  if (!child) return Error{child.error().message};
  server->process_ = std::move(*child);

  std::string ready_line;
  const bool ready = server->process_->WaitForLine(
      [&](const harness::OutputLine& line) {
        if (line.text.find(kReady) == std::string::npos) return false;
        ready_line = line.text;
        server->ready_at_ = line.at;
        return true;
      },
      Clock::now() + std::chrono::seconds(10));
  if (!ready) return Error{"coder server never became ready:\n" + server->process_->Output()};

  // "... Started HTTP listener at http://127.0.0.1:PORT  url=..." → host and port.
  std::string url = ready_line.substr(ready_line.find(kReady) + kReady.size());
  url = url.substr(0, url.find_first_of(" \t\""));
  const std::string authority = url.substr(std::string_view("http://").size());
  server->host_ = authority.substr(0, authority.rfind(':'));
  server->port_ = static_cast<uint16_t>(std::stoi(authority.substr(authority.rfind(':') + 1)));
  std::ifstream token(server->dir_.path() / "config" / "session");
  std::getline(token, server->token_);
  return server;
}

BenchServer::~BenchServer() {
  if (process_) process_->Stop();
}

Result<StopTiming> BenchServer::Stop(std::chrono::milliseconds timeout) {
  const Clock::time_point signalled = Clock::now();
  if (auto sent = process_->Signal(SIGTERM); !sent) return Error{sent.error().message};
  auto status = process_->WaitUntil(signalled + timeout);
  if (!status) return Error{"coder server did not exit within the timeout"};
  if (status->signaled || status->code != 0)
    return Error{"coder server ended with " + status->Describe() + ":\n" + process_->Output()};
  StopTiming t;
  t.latency_ms = std::chrono::duration<double, std::milli>(status->at - signalled).count();
  t.status = *status;
  return t;
}

bool BenchServer::LogContains(std::string_view text) const {
  for (const auto& line : process_->Lines())
    if (line.text.find(text) != std::string::npos) return true;
  return false;
}

std::vector<std::string> BenchServer::LogLines() const {
  std::vector<std::string> lines;
  for (auto& line : process_->Lines()) lines.push_back(std::move(line.text));
  return lines;
}

uint64_t ProcessRssBytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    unsigned long long kib = 0;
    if (std::sscanf(line.c_str(), "VmRSS: %llu kB", &kib) == 1) return kib * 1024;
  }
  return 0;
}

std::string EnvOr(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

}  // namespace coder::bench
