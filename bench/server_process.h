#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "harness/process/child_process.h"
#include "tests/support/temp_dir.h"

namespace coder::bench {

using Clock = std::chrono::steady_clock;

struct ServerConfig {
  bool gateway = true;
  bool unpatched = false;
  /// Passed as --websocket-shutdown-timeout when not empty (e.g. "300ms"); empty keeps the server's 10s.
  std::string websocket_timeout;
  /// More flags for `coder server`, appended as given.
  std::vector<std::string> extra_args;
};

/// What one stop took, on the harness's clock.
struct StopTiming {
  double latency_ms = 0;  ///< SIGTERM sent → exit seen through the pidfd (ExitStatus::at)
  harness::ExitStatus status;
};

/// One real `coder server` (path from CODER_BINARY_PATH) on a free loopback port with a fresh config dir,
/// launched through the harness's own ChildProcess so the bench measures what `coder diag` measures.
/// The destructor stops the process (if still running) and removes the config dir.
class BenchServer {
 public:
  /// Launches and waits up to 10 s for `Started HTTP listener at http://HOST:PORT`.
  static Result<std::unique_ptr<BenchServer>> Start(const ServerConfig& config);
  ~BenchServer();
  BenchServer(const BenchServer&) = delete;
  BenchServer& operator=(const BenchServer&) = delete;

  /// Just before ChildProcess::Start was called, and when the ready line was read.
  Clock::time_point launched_at() const { return launched_at_; }
  Clock::time_point ready_at() const { return ready_at_; }
  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }
  /// The `<config-dir>/session` token the API wants in the Coder-Session-Token header.
  const std::string& token() const { return token_; }
  pid_t pid() const { return process_->pid(); }

  /// Sends SIGTERM and waits up to `timeout` for the exit. An Error when it did not exit, or not with 0.
  Result<StopTiming> Stop(std::chrono::milliseconds timeout);
  /// Whether any retained output line contains `text`.
  bool LogContains(std::string_view text) const;
  std::string Log() const { return process_->Output(); }
  /// The retained output lines, oldest first.
  std::vector<std::string> LogLines() const;

 private:
  explicit BenchServer(test_support::TempDir dir) : dir_(std::move(dir)) {}

  test_support::TempDir dir_;  // declared before process_: the process is gone before its directory
  std::unique_ptr<harness::ChildProcess> process_;
  Clock::time_point launched_at_;
  Clock::time_point ready_at_;
  std::string host_;
  uint16_t port_ = 0;
  std::string token_;
};

/// VmRSS of a live process in bytes (0 if it cannot be read).
uint64_t ProcessRssBytes(pid_t pid);

/// An environment variable, or `fallback` when unset or empty.
std::string EnvOr(const char* name, std::string fallback);

}  // namespace coder::bench
