#include "tests/e2e/coder_server.h"
#include "tests/e2e/report_files.h"

#include <gtest/gtest.h>

#include <fstream>

namespace coder::e2e {

namespace {

harness::LaunchSpec CoderSpec(const std::vector<std::string>& args,
                              std::vector<std::pair<std::string, std::string>> env) {
  harness::LaunchSpec spec;
  spec.argv = {CODER_BINARY_PATH};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.env = std::move(env);
  return spec;
}

}  // namespace

std::unique_ptr<harness::ChildProcess> LaunchCoder(const std::vector<std::string>& args,
                                                   std::vector<std::pair<std::string, std::string>> env) {
  return test_support::StartOrFail(CoderSpec(args, std::move(env)));
}

CoderRun RunCoder(const std::vector<std::string>& args, std::vector<std::pair<std::string, std::string>> env,
                  std::chrono::milliseconds timeout) {
  return test_support::RunToEnd(CoderSpec(args, std::move(env)), timeout);
}

CoderRun RunDiag(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  return RunDiag(std::move(args), {}, timeout);
}

CoderRun RunDiag(std::vector<std::string> args, std::vector<std::pair<std::string, std::string>> env,
                 std::chrono::milliseconds timeout) {
  args.insert(args.begin(), {"diag", "shutdown"});
  return RunCoder(args, std::move(env), timeout);
}

std::unique_ptr<harness::ChildProcess> CoderServer::Launch(const std::vector<std::string>& args,
                                                           std::vector<std::pair<std::string, std::string>> env) {
  std::vector<std::string> full = {"server"};
  full.insert(full.end(), args.begin(), args.end());
  return LaunchCoder(full, std::move(env));
}

std::unique_ptr<CoderServer> CoderServer::Start(Options options) {
  auto server = std::unique_ptr<CoderServer>(new CoderServer());
  if (options.config_dir.empty()) {
    server->owned_dir_ = std::make_unique<TempDir>();
    server->config_dir_ = server->owned_dir_->path() / "config";
  } else {
    server->config_dir_ = options.config_dir;
  }
  std::vector<std::string> args = {"--http-address", "127.0.0.1:0", "--config-dir", server->config_dir_.string()};
  args.insert(args.end(), options.args.begin(), options.args.end());
  server->process_ = Launch(args, options.env);
  if (!server->process_) return nullptr;

  constexpr std::string_view kReady = "Started HTTP listener at ";
  std::string ready_line;
  const bool ready = server->process_->WaitForLine(
      [&](const harness::OutputLine& line) {
        if (line.text.find(kReady) == std::string::npos) return false;
        ready_line = line.text;
        return true;
      },
      In(options.ready_timeout));
  if (!ready) {
    ADD_FAILURE() << "coder server never became ready; its output:\n" << server->process_->Output();
    return nullptr;
  }
  std::string url = ready_line.substr(ready_line.find(kReady) + kReady.size());
  url = url.substr(0, url.find_first_of(" \t\""));
  server->url_ = url;
  const std::string authority = url.substr(std::string("http://").size());
  server->host_ = authority.substr(0, authority.rfind(':'));
  server->port_ = static_cast<uint16_t>(std::stoi(authority.substr(authority.rfind(':') + 1)));
  std::ifstream token(server->config_dir_ / "session");
  std::getline(token, server->token_);
  return server;
}

std::optional<harness::ExitStatus> CoderServer::SignalAndWait(int sig, std::chrono::milliseconds timeout) {
  if (auto sent = process_->Signal(sig); !sent) ADD_FAILURE() << sent.error().message;
  return process_->WaitUntil(In(timeout));
}

bool CoderServer::WaitForLog(const std::string& text, std::chrono::milliseconds timeout) {
  return process_->WaitForLine(
      [&](const harness::OutputLine& line) { return line.text.find(text) != std::string::npos; }, In(timeout));
}

DiagWithReport RunDiagWithReport(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  TempDir dir;
  const auto path = dir.path() / "report.json";
  args.insert(args.begin(), {"--json", path.string()});
  DiagWithReport d;
  d.run = RunDiag(std::move(args), timeout);
  d.report = ReadJson(path);
  return d;
}

OneRun RunOnce(std::vector<std::string> args) {
  args.insert(args.begin(), {"--runs", "1"});
  DiagWithReport d = RunDiagWithReport(std::move(args));
  OneRun out{std::move(d.run), std::move(d.report), nullptr};
  if (out.report.is_object() && out.report["runs"].size() == 1) out.run = out.report["runs"][0];
  return out;
}

bool HasNativeStacksOf(const nlohmann::json& run, const nlohmann::json& pid) {
  if (!run.is_object() || !run.contains("stacks")) return false;
  for (const nlohmann::json& s : run["stacks"])
    if (s["runtime"] == "native" && s["pid"] == pid && !s["text"].get<std::string>().empty()) return true;
  return false;
}

const nlohmann::json* DumpOf(const nlohmann::json& run, const std::string& tool) {
  if (!run.is_object() || !run.contains("stacks")) return nullptr;
  for (const nlohmann::json& s : run["stacks"])
    if (s["tool"] == tool) return &s;
  return nullptr;
}

}  // namespace coder::e2e
