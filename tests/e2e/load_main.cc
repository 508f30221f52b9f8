// coder_load: the long version of ServerLoadTest, behind scripts/load. Starts `coder server`, opens
// thousands of WebSocket watchers, runs our per-request-accounted HTTP clients and (optionally) wrk,
// signals the server mid-load and prints what it measured. Exit 0 only when every request sent before
// the signal was answered in full, every watcher got close 1001, the server exited 0 within the budget
// and wrk ran.
#include <fmt/format.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>
#include <optional>

#include "common/duration.h"
#include "harness/process/child_process.h"
#include "tests/e2e/load_driver.h"
#include "tests/support/temp_dir.h"

namespace {

using coder::harness::ChildProcess;
using coder::harness::LaunchSpec;
using Clock = std::chrono::steady_clock;

struct Flags {
  std::string coder = CODER_BINARY_PATH;
  int websockets = 5000;
  int http_connections = 32;
  int post_every = 100;
  std::string load_for = "3s";
  std::string signal = "TERM";
  std::string budget = "5s";
  std::string wrk;
  std::string wrk_script;
  int wrk_connections = 64;
  int wrk_threads = 2;
  std::string wrk_tail = "2s";
  std::vector<std::string> server_args;
};

void RaiseOpenFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::chrono::milliseconds Millis(const std::string& flag, const std::string& text) {
  auto d = coder::ParseDuration(text);
  if (!d) throw CLI::ValidationError("--" + flag, d.error().message);
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

std::unique_ptr<ChildProcess> Launch(std::vector<std::string> argv) {
  LaunchSpec spec;
  spec.argv = std::move(argv);
  auto child = ChildProcess::Start(std::move(spec));
  if (!child) {
    fmt::print(stderr, "coder_load: {}\n", child.error().message);
    return nullptr;
  }
  return std::move(*child);
}

int Main(const Flags& f) {
  RaiseOpenFileLimit();
  const auto load_for = Millis("load-for", f.load_for);
  const auto budget = Millis("budget", f.budget);
  const auto wrk_tail = Millis("wrk-tail", f.wrk_tail);
  const int sig = f.signal == "INT" ? SIGINT : f.signal == "HUP" ? SIGHUP : SIGTERM;

  const auto scratch = coder::test_support::TempDir::Create("load");
  if (!scratch) return 3;
  const std::filesystem::path dir = scratch->path();
  std::vector<std::string> argv = {f.coder,       "server",       "--http-address",
                                   "127.0.0.1:0", "--config-dir", (dir / "config").string()};
  argv.insert(argv.end(), f.server_args.begin(), f.server_args.end());
  auto server = Launch(argv);
  if (!server) return 3;
  std::string url;
  constexpr std::string_view kReady = "Started HTTP listener at ";
  server->WaitForLine(
      [&](const coder::harness::OutputLine& line) {
        const auto at = line.text.find(kReady);
        if (at == std::string::npos) return false;
        url = line.text.substr(at + kReady.size());
        url = url.substr(0, url.find_first_of(" \t"));
        return true;
      },
      Clock::now() + std::chrono::seconds(30));
  if (url.empty()) {
    fmt::print(stderr, "coder_load: the server never became ready:\n{}", server->Output());
    return 3;
  }
  std::string token;
  std::getline(std::ifstream(dir / "config" / "session"), token);

  coder::e2e::load::Options options;
  options.port = static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
  options.token = token;
  options.websockets = f.websockets;
  options.http_connections = f.http_connections;
  options.post_every = f.post_every;
  options.load_before_signal = load_for;
  options.requests_before_signal = 0;
  options.deadline = std::chrono::seconds(120) + load_for;
  std::unique_ptr<ChildProcess> wrk;
  Clock::time_point wrk_started;
  options.on_websockets_up = [&] {
    if (f.wrk.empty()) return;
    const auto seconds = std::chrono::ceil<std::chrono::seconds>(load_for + wrk_tail).count();
    std::vector<std::string> wrk_argv = {f.wrk,
                                         "-t",
                                         std::to_string(f.wrk_threads),
                                         "-c",
                                         std::to_string(f.wrk_connections),
                                         "-d",
                                         fmt::format("{}s", seconds),
                                         "--latency"};
    if (!f.wrk_script.empty()) {
      wrk_argv.push_back("-s");
      wrk_argv.push_back(f.wrk_script);
    }
    wrk_argv.push_back(url + "/healthz");
    wrk = Launch(wrk_argv);
    wrk_started = Clock::now();
  };
  options.send_signal = [&] { (void)server->Signal(sig); };
  fmt::print("coder_load: {} WebSocket watchers, {} HTTP clients{}, SIG{} after {} of load, against {}\n", f.websockets,
             f.http_connections,
             f.wrk.empty() ? "" : fmt::format(" and wrk (-t{} -c{})", f.wrk_threads, f.wrk_connections), f.signal,
             f.load_for, url);
  std::fflush(stdout);

  const auto report = coder::e2e::load::Run(options);
  const auto exit = server->WaitUntil(Clock::now() + std::chrono::seconds(60));
  bool ok = true;
  fmt::print("{}", report.Describe());
  if (!exit) {
    fmt::print("server: still running 60 s after the signal\n");
    ok = false;
  } else {
    const auto shutdown = exit->at - report.signal_at;
    fmt::print("server: {}; shutdown (signal to exit) {} against a budget of {}\n", exit->Describe(),
               coder::FormatDuration(shutdown), f.budget);
    ok &= exit->Describe() == "exit 0" && shutdown < budget;
  }
  for (const auto& line : server->Lines())
    if (line.text.find("Shutdown complete in") != std::string::npos) fmt::print("server log: {}\n", line.text);
  for (const auto& v : report.Violations(50)) {
    fmt::print("VIOLATION: {}\n", v);
    ok = false;
  }
  if (wrk) {
    const auto wrk_exit = wrk->WaitUntil(Clock::now() + load_for + wrk_tail + std::chrono::seconds(30));
    fmt::print("wrk ({}):\n", wrk_exit ? wrk_exit->Describe() : "still running");
    for (const auto& line : wrk->Lines()) fmt::print("  {}\n", line.text);
    ok &= wrk_exit && wrk_exit->Describe() == "exit 0";
  }
  fmt::print("coder_load: {}\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coder_load: thousands of WebSocket watchers and HTTP load on coder server, signalled mid-load"};
  Flags f;
  app.add_option("--coder", f.coder, "the coder binary")->capture_default_str();
  app.add_option("--websockets", f.websockets, "WebSocket watchers")->capture_default_str()->check(CLI::Range(0, 9000));
  app.add_option("--http-connections", f.http_connections, "keep-alive HTTP clients with per-request accounting")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--post-every", f.post_every,
                 "every Nth request of our clients POSTs a notification, which goes to every watcher (0: none)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--load-for", f.load_for, "HTTP load before the signal")->capture_default_str();
  app.add_option("--signal", f.signal, "TERM, INT or HUP")
      ->capture_default_str()
      ->check(CLI::IsMember({"TERM", "INT", "HUP"}));
  app.add_option("--budget", f.budget, "the shutdown must end within this")->capture_default_str();
  app.add_option("--wrk", f.wrk, "wrk binary for raw HTTP load alongside (none: no wrk)");
  app.add_option("--wrk-script", f.wrk_script, "wrk Lua script");
  app.add_option("--wrk-connections", f.wrk_connections, "wrk -c")->capture_default_str();
  app.add_option("--wrk-threads", f.wrk_threads, "wrk -t")->capture_default_str();
  app.add_option("--wrk-tail", f.wrk_tail, "how long wrk runs on after the signal")->capture_default_str();
  app.add_option("--server-arg", f.server_args, "an extra coder server argument (repeatable)");
  try {
    app.parse(argc, argv);
    return Main(f);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
}
