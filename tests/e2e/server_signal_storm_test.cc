// Bursts of real signals at the real `coder server` while it starts and while it shuts down. It must
// never die of a signal's default action (only SIGQUIT ends it early, by exiting 3 after its dump) and
// never hang. Each seed picks the signals and where in start-up or shutdown they land; a failure names
// its seed, and CODER_STORM_SEED_BASE=<n> explores other seeds.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/net_client.h"
#include "tests/e2e/report_files.h"

extern char** environ;

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// What a storm may carry. SIGQUIT is added by some seeds: the server then exits 3 with its dump.
constexpr int kStormSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE};
constexpr int kSeeds = 6;

unsigned SeedBase() {
  const char* base = std::getenv("CODER_STORM_SEED_BASE");
  return base != nullptr ? static_cast<unsigned>(std::strtoul(base, nullptr, 10)) : 1;
}

std::string SignalList(const std::vector<int>& sigs) {
  std::string out;
  for (int sig : sigs) out += (out.empty() ? "" : ",") + SignalName(sig);
  return out;
}

/// A storm: 1-40 signals; about half the seeds include a stop signal, some a SIGQUIT.
struct Storm {
  std::vector<int> signals;
  std::vector<int> polls_before;  // reads of /proc before each signal: spreads them over real progress
  bool stops = false;
  bool quits = false;

  static Storm FromSeed(unsigned seed, bool allow_quit) {
    std::mt19937 rng(seed);
    Storm s;
    const int n = std::uniform_int_distribution<int>(1, 40)(rng);
    const bool with_stop = rng() % 2 == 0;
    for (int i = 0; i < n; ++i) {
      int sig = kStormSignals[rng() % std::size(kStormSignals)];
      if (!with_stop) sig = std::vector<int>{SIGUSR1, SIGUSR2, SIGPIPE}[rng() % 3];
      s.signals.push_back(sig);
      s.polls_before.push_back(std::uniform_int_distribution<int>(0, rng() % 4 == 0 ? 400 : 20)(rng));
    }
    if (allow_quit && rng() % 4 == 0) {
      const size_t at = rng() % (s.signals.size() + 1);
      s.signals.insert(s.signals.begin() + static_cast<long>(at), SIGQUIT);
      s.polls_before.insert(s.polls_before.begin() + static_cast<long>(at), 0);
    }
    for (int sig : s.signals) {
      s.stops |= sig == SIGINT || sig == SIGTERM || sig == SIGHUP;
      s.quits |= sig == SIGQUIT;
    }
    return s;
  }
};

/// /proc/<pid>/status's SigBlk mask, or 0 once the process has gone.
uint64_t BlockedMask(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("SigBlk:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  return 0;
}

bool Blocks(uint64_t mask, int sig) { return (mask >> (sig - 1)) & 1; }

/// `coder server` spawned with posix_spawn, its output in a file, waited on through a pidfd.
class SpawnedServer {
 public:
  /// `blocked`: the signal mask the child starts with (a supervisor that spawns with its stop signals
  /// blocked); empty, as a shell spawns.
  SpawnedServer(const std::vector<int>& blocked) {
    config_ = dir_.path() / "config";
    log_path_ = dir_.path() / "log";
    std::vector<std::string> args = {CODER_BINARY_PATH, "server",       "--http-address",
                                     "127.0.0.1:0",     "--config-dir", config_.string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t mask, defaults;
    sigemptyset(&mask);
    for (int sig : blocked) sigaddset(&mask, sig);
    sigfillset(&defaults);
    posix_spawnattr_setsigmask(&attr, &mask);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    spawn_error_ = posix_spawn(&pid_, argv[0], &actions, &attr, argv.data(), environ);
    spawned_at_ = Clock::now();
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    if (spawn_error_ == 0) pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  }
  ~SpawnedServer() {
    if (!status_ && pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int ignored;
      ::waitpid(pid_, &ignored, 0);
    }
    if (pidfd_ >= 0) ::close(pidfd_);
  }

  bool ok() const { return spawn_error_ == 0 && pidfd_ >= 0; }
  pid_t pid() const { return pid_; }
  Clock::time_point spawned_at() const { return spawned_at_; }
  const std::filesystem::path& config() const { return config_; }
  /// Safe until waited for: the child stays a zombie until then, so its pid is never reused.
  void Signal(int sig) { ::kill(pid_, sig); }

  /// The wait status, or nullopt if it is still running at the deadline.
  std::optional<int> WaitUntil(Clock::time_point deadline) {
    if (status_) return status_;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd p{.fd = pidfd_, .events = POLLIN, .revents = 0};
      if (::poll(&p, 1, static_cast<int>(std::max<long>(left, 0))) > 0) break;
      if (left <= 0) return std::nullopt;
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    status_ = status;
    return status_;
  }
  std::string Log() const { return ReadText(log_path_); }

 private:
  TempDir dir_;
  std::filesystem::path config_;
  std::filesystem::path log_path_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int spawn_error_ = 0;
  Clock::time_point spawned_at_;
  std::optional<int> status_;
};

std::string DescribeStatus(int status) {
  return harness::ExitStatus{.signaled = WIFSIGNALED(status) != 0,
                             .code = WIFEXITED(status) ? WEXITSTATUS(status) : 0,
                             .signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0}
      .Describe();
}

void SendStorm(const Storm& storm, pid_t pid, const std::function<void(int)>& send) {
  for (size_t i = 0; i < storm.signals.size(); ++i) {
    for (int p = 0; p < storm.polls_before[i]; ++p) BlockedMask(pid);
    send(storm.signals[i]);
  }
}

/// After a storm: a server that was not stopped must still serve, then stop cleanly on SIGTERM; one that
/// was stopped exits by itself. Never a default-action death, never a hang.
void ExpectSurvived(SpawnedServer& server, const Storm& storm, const std::string& what) {
  if (!storm.stops && !storm.quits) {
    // Not stopped: it must come up and serve. Its url file is the readiness it announces.
    const auto url_file = server.config() / "url";
    const auto ready_by = In(20s);
    while (!std::filesystem::exists(url_file) && Clock::now() < ready_by && !server.WaitUntil(Clock::now() + 5ms)) {
    }
    ASSERT_TRUE(std::filesystem::exists(url_file)) << what << "never became ready\n" << server.Log();
    std::ifstream in(url_file);
    std::string url;
    std::getline(in, url);
    const auto port = static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
    EXPECT_EQ(HttpRequest("127.0.0.1", port, "GET", "/healthz").status, 200u) << what;
    server.Signal(SIGTERM);
  }
  const auto status = server.WaitUntil(In(30s));
  ASSERT_TRUE(status) << what << "hung: still running 30 s after the storm\n" << server.Log();
  EXPECT_FALSE(WIFSIGNALED(*status)) << what << DescribeStatus(*status) << "\n" << server.Log();
  if (WIFEXITED(*status) && WEXITSTATUS(*status) == 3) {
    EXPECT_TRUE(storm.quits) << what << "exit 3 without a SIGQUIT";
    EXPECT_THAT(server.Log(), HasSubstr("=== coder server state (SIGQUIT) ===")) << what;
  } else {
    EXPECT_EQ(DescribeStatus(*status), "exit 0") << what << server.Log();
    EXPECT_THAT(server.Log(), HasSubstr("Shutdown complete in")) << what << server.Log();
  }
}

// Spawned as a shell spawns (nothing blocked), stormed from the moment the binary's own code has run
// its first instruction (its .preinit_array blocks the signals; /proc shows it), so the storm covers
// the libraries' initialisers, flag parsing, start-up and readiness.
TEST(ServerSignalStormTest, StormDuringStartUpNeverKillsOrHangs) {
  for (unsigned seed = SeedBase(); seed < SeedBase() + kSeeds; ++seed) {
    const Storm storm = Storm::FromSeed(seed, /*allow_quit=*/true);
    const std::string what = "seed " + std::to_string(seed) + " (" + SignalList(storm.signals) + "): ";
    SpawnedServer server({});
    ASSERT_TRUE(server.ok());
    const auto deadline = In(10s);
    while (!Blocks(BlockedMask(server.pid()), SIGTERM) && Clock::now() < deadline) {
    }
    ASSERT_TRUE(Blocks(BlockedMask(server.pid()), SIGTERM)) << what << "the signals were never blocked";
    const auto blocked_after = Clock::now() - server.spawned_at();
    RecordProperty("exec_to_blocked_us_seed_" + std::to_string(seed),
                   static_cast<int>(std::chrono::duration_cast<std::chrono::microseconds>(blocked_after).count()));
    SendStorm(storm, server.pid(), [&](int sig) { server.Signal(sig); });
    ExpectSurvived(server, storm, what);
  }
}

// A supervisor that spawns with the signals blocked closes the last window (the dynamic loader's): the
// storm starts the moment posix_spawn returns and every signal is held for the server, none lost.
TEST(ServerSignalStormTest, StormFromTheMomentOfSpawnIsHandledWhenSpawnedBlocked) {
  for (unsigned seed = SeedBase(); seed < SeedBase() + kSeeds; ++seed) {
    const Storm storm = Storm::FromSeed(seed * 7919, /*allow_quit=*/true);
    const std::string what = "seed " + std::to_string(seed * 7919) + " (" + SignalList(storm.signals) + "): ";
    SpawnedServer server({SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE});
    ASSERT_TRUE(server.ok());
    SendStorm(storm, server.pid(), [&](int sig) { server.Signal(sig); });
    ExpectSurvived(server, storm, what);
    if (storm.stops && !storm.quits) {
      EXPECT_THAT(server.Log(), HasSubstr("caught, gracefully exiting")) << what << "a pending stop was lost";
    }
  }
}

// Shutdown held open (unpatched order, 1 s WebSocket wait) with watchers connected, stormed from the
// first shutdown line to the exit: repeats are logged and ignored, SIGUSR1/2 logged, SIGPIPE ignored.
TEST(ServerSignalStormTest, StormDuringShutdownNeverKillsOrHangs) {
  for (unsigned seed = SeedBase(); seed < SeedBase() + kSeeds / 2; ++seed) {
    std::mt19937 rng(seed);
    const std::string what = "seed " + std::to_string(seed) + ": ";
    auto server = CoderServer::Start({.args = {"--shutdown-order", "unpatched", "--websocket-shutdown-timeout", "1s"}});
    ASSERT_TRUE(server);
    std::vector<std::unique_ptr<WatchClient>> watchers;
    for (int i = 0; i < 5; ++i) {
      std::string error;
      watchers.push_back(WatchClient::Connect(server->host(), server->port(), server->token(), &error));
      ASSERT_TRUE(watchers.back()) << error;
    }
    const bool quit = rng() % 3 == 0;
    const int quit_after = static_cast<int>(rng() % 200);
    ASSERT_TRUE(server->process().Signal(SIGTERM));
    ASSERT_TRUE(server->WaitForLog("Shutting down API server...", 10s)) << what;
    std::vector<int> sent;
    const auto deadline = In(30s);
    while (!server->process().exit_status() && Clock::now() < deadline) {
      const int sig = (quit && static_cast<int>(sent.size()) == quit_after)
                          ? SIGQUIT
                          : kStormSignals[rng() % std::size(kStormSignals)];
      if (!server->process().Signal(sig)) break;  // it has exited
      sent.push_back(sig);
      for (int p = static_cast<int>(rng() % 50); p > 0; --p) BlockedMask(server->process().pid());
    }
    const auto exit = server->process().WaitUntil(In(30s));
    ASSERT_TRUE(exit) << what << "hung during shutdown after " << sent.size() << " signals\n" << server->Log();
    EXPECT_FALSE(exit->signaled) << what << exit->Describe() << "\n" << server->Log();
    const bool quit_sent = std::find(sent.begin(), sent.end(), SIGQUIT) != sent.end();
    if (exit->Describe() == "exit 3") {
      EXPECT_TRUE(quit_sent) << what;
    } else {
      EXPECT_EQ(exit->Describe(), "exit 0") << what << server->Log();
      EXPECT_THAT(server->Log(), HasSubstr("Shutdown complete in")) << what;
    }
    EXPECT_GT(sent.size(), 0u) << what;
    RecordProperty("signals_during_shutdown_seed_" + std::to_string(seed), static_cast<int>(sent.size()));
  }
}

}  // namespace
}  // namespace coder::e2e
