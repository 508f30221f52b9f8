#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/process/child_process.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace coder::e2e {

using test_support::In;
using test_support::TempDir;

/// Launches the real `coder` binary with `args` (e.g. {"diag", "shutdown", ...}) through the harness's
/// ChildProcess. Fails the calling test and returns null if it cannot be started.
std::unique_ptr<harness::ChildProcess> LaunchCoder(const std::vector<std::string>& args,
                                                   std::vector<std::pair<std::string, std::string>> env = {});

/// How a `coder` invocation that was waited for ended.
using CoderRun = test_support::FinishedProcess;

/// Runs `coder` with `args` to completion (or the timeout) and returns its exit and output.
CoderRun RunCoder(const std::vector<std::string>& args, std::vector<std::pair<std::string, std::string>> env = {},
                  std::chrono::milliseconds timeout = std::chrono::seconds(60));

/// `coder diag shutdown ARGS...` run to completion (or the timeout), for the diag tests.
CoderRun RunDiag(std::vector<std::string> args, std::chrono::milliseconds timeout = std::chrono::seconds(60));
CoderRun RunDiag(std::vector<std::string> args, std::vector<std::pair<std::string, std::string>> env,
                 std::chrono::milliseconds timeout = std::chrono::seconds(60));

/// A `coder diag shutdown` run and the JSON report it wrote (null when it wrote none).
struct DiagWithReport {
  CoderRun run;
  nlohmann::json report;
};

/// `coder diag shutdown --json R ARGS...`, run to completion (or the timeout), with R read back.
DiagWithReport RunDiagWithReport(std::vector<std::string> args,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(90));

/// `coder diag shutdown --runs 1 ARGS...` with its JSON report read back, and the report's one run (null
/// unless there is exactly one).
struct OneRun {
  CoderRun diag;
  nlohmann::json report;
  nlohmann::json run;
};
OneRun RunOnce(std::vector<std::string> args);

/// The entry of the run's "stacks" taken with `tool` ("sigquit", "faulthandler", "eu-stack"), or null.
const nlohmann::json* DumpOf(const nlohmann::json& run, const std::string& tool);

/// Whether the run's "stacks" hold native stacks with text for `pid`.
bool HasNativeStacksOf(const nlohmann::json& run, const nlohmann::json& pid);

/// The real `coder server` binary, launched through the harness's ChildProcess and waited on until its
/// ready line. Owns the process: the destructor stops it.
class CoderServer {
 public:
  struct Options {
    std::vector<std::string> args;     // after `coder server`
    std::filesystem::path config_dir;  // empty: a fresh temporary one
    std::vector<std::pair<std::string, std::string>> env;
    std::chrono::milliseconds ready_timeout{10000};
  };

  /// Launches and waits for `Started HTTP listener at ...`. Fails the calling test (and returns null) if
  /// the server never becomes ready.
  static std::unique_ptr<CoderServer> Start(Options options);

  /// Launches without waiting, for tests of start-up failures.
  static std::unique_ptr<harness::ChildProcess> Launch(const std::vector<std::string>& args,
                                                       std::vector<std::pair<std::string, std::string>> env = {});

  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }
  const std::string& url() const { return url_; }
  const std::string& token() const { return token_; }
  const std::filesystem::path& config_dir() const { return config_dir_; }
  harness::ChildProcess& process() { return *process_; }

  /// Sends `sig` and waits for the exit; nullopt if it did not exit by then.
  std::optional<harness::ExitStatus> SignalAndWait(int sig, std::chrono::milliseconds timeout);
  /// True once a log line contains `text`.
  bool WaitForLog(const std::string& text, std::chrono::milliseconds timeout);
  std::string Log() const { return process_->Output(); }

 private:
  std::unique_ptr<TempDir> owned_dir_;
  std::filesystem::path config_dir_;
  std::unique_ptr<harness::ChildProcess> process_;
  std::string host_;
  uint16_t port_ = 0;
  std::string url_;
  std::string token_;
};

}  // namespace coder::e2e
