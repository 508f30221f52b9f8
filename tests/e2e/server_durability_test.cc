// What the real `coder server` keeps of accepted notifications when it is killed, when its disk is full,
// and how it replays a large backlog: every 202 is a notification that is delivered, whatever happens.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/net_client.h"
#include "tests/e2e/raw_client.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;

/// Every id a watcher on `server` receives until `expected` are all in, or nothing comes for `quiet`.
std::set<std::string> Collect(CoderServer& server, const std::set<std::string>& expected,
                              std::chrono::milliseconds quiet = 10s) {
  std::string error;
  auto watcher = WatchClient::Connect(server.host(), server.port(), server.token(), &error);
  EXPECT_TRUE(watcher) << error;
  std::set<std::string> got;
  if (!watcher) return got;
  while (!std::includes(got.begin(), got.end(), expected.begin(), expected.end())) {
    const auto m = watcher->NextMessage(quiet);
    if (!m) break;
    got.insert(json::parse(*m)["notification"]["id"].get<std::string>());
  }
  return got;
}

size_t Missing(const std::set<std::string>& expected, const std::set<std::string>& got) {
  size_t missing = 0;
  for (const auto& id : expected) missing += got.count(id) == 0;
  return missing;
}

/// Writes `path` until the file system has no byte left.
void FillUp(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  const std::string chunk(64 << 10, 'f');
  for (size_t size : {chunk.size(), size_t{4096}, size_t{1}})
    while (::write(fd, chunk.data(), size) == static_cast<ssize_t>(size)) {
    }
  ::close(fd);
}

/// POSTs from `threads` clients until `stop`, recording the id of every 202.
class PostLoad {
 public:
  PostLoad(const CoderServer& server, int threads, std::string body = R"({"title":"load"})") {
    for (int t = 0; t < threads; ++t) {
      workers_.emplace_back([this, host = server.host(), port = server.port(), token = server.token(), body] {
        while (!stop_) {
          const auto r =
              HttpRequest(host, port, "POST", "/api/v2/notifications", body, {{"Coder-Session-Token", token}}, 5s);
          std::lock_guard lock(mu_);
          if (r.status == 202) accepted_.insert(json::parse(r.body)["id"].get<std::string>());
          else ++refused_;
        }
      });
    }
  }
  ~PostLoad() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& w : workers_)
      if (w.joinable()) w.join();
  }
  size_t accepted_count() {
    std::lock_guard lock(mu_);
    return accepted_.size();
  }
  const std::set<std::string>& accepted() const { return accepted_; }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::set<std::string> accepted_;
  size_t refused_ = 0;
  std::vector<std::thread> workers_;
};

// Before the database, state was written only at a clean stop: 5 rounds of kill -9 lost all 4472
// accepted notifications. Now a 202 means committed: 20 kill -9s at random moments under load, and 4
// SIGQUITs (state dump, immediate exit), lose none.
TEST(ServerDurabilityTest, NoAcceptedNotificationIsLostOverTwentyKillNineRoundsUnderLoad) {
  TempDir dir;
  const auto config = dir.path() / "config";
  const std::vector<std::string> args = {"--notifications-queue-size", "1000000"};
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> load_ms(20, 200);
  std::set<std::string> accepted;
  for (int round = 0; round < 24; ++round) {
    const int sig = round % 6 == 5 ? SIGQUIT : SIGKILL;
    auto server = CoderServer::Start({.args = args, .config_dir = config});
    ASSERT_TRUE(server) << "round " << round;
    PostLoad load(*server, 6);
    const auto ms = load_ms(rng);
    // At least a few accepted, then a random moment: the kill lands mid-commit as often as between.
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    const auto give_up = In(10s);
    while (load.accepted_count() < 5 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    while (std::chrono::steady_clock::now() < until) std::this_thread::yield();
    ASSERT_TRUE(server->SignalAndWait(sig, 10s)) << "round " << round;
    load.Stop();
    accepted.insert(load.accepted().begin(), load.accepted().end());
  }
  ASSERT_GT(accepted.size(), 100u);
  auto last = CoderServer::Start({.args = args, .config_dir = config});
  ASSERT_TRUE(last);
  const auto delivered = Collect(*last, accepted);
  std::vector<std::string> lost;
  std::set_difference(accepted.begin(), accepted.end(), delivered.begin(), delivered.end(), std::back_inserter(lost));
  EXPECT_EQ(lost.size(), 0u) << lost.size() << " of " << accepted.size() << " accepted notifications lost";
  RecordProperty("accepted", static_cast<int>(accepted.size()));
  RecordProperty("lost", static_cast<int>(lost.size()));
  std::printf("kill -9 rounds: 20, SIGQUIT rounds: 4, accepted: %zu, delivered after restart: %zu, lost: %zu\n",
              accepted.size(), accepted.size() - lost.size(), lost.size());
}

// A full disk: before, every POST got 202 from memory, and the stop that could not write them exited 0.
// Now the POST that cannot be committed gets 507, and everything that got 202 is delivered.
TEST(ServerDurabilityTest, AFullDiskAnswers507AndLosesNothingAccepted) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
  TempDir dir;
  const auto config = dir.path() / "config";
  std::filesystem::create_directories(config);
  ::chmod(config.c_str(), 0700);
  if (::mount("tmpfs", config.c_str(), "tmpfs", 0, "size=1m,mode=0700") != 0)
    GTEST_SKIP() << "mounting a tmpfs is not permitted here: " << std::strerror(errno);
  struct Unmount {
    std::filesystem::path path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{config};
  const std::vector<std::string> args = {"--notifications-queue-size", "100000"};
  std::set<std::string> accepted;
  HttpReply full;
  {
    auto server = CoderServer::Start({.args = args, .config_dir = config});
    ASSERT_TRUE(server);
    const std::string body = json{{"title", "big"}, {"body", std::string(4000, 'b')}}.dump();
    for (int i = 0; i < 2000 && full.status == 0; ++i) {
      const auto r = HttpRequest(server->host(), server->port(), "POST", "/api/v2/notifications", body,
                                 {{"Coder-Session-Token", server->token()}});
      if (r.status == 202) accepted.insert(json::parse(r.body)["id"].get<std::string>());
      else full = r;
    }
    EXPECT_EQ(full.status, 507u) << full.body << full.error;
    EXPECT_THAT(full.body, HasSubstr("could not be stored"));
    EXPECT_GT(accepted.size(), 10u);
    EXPECT_EQ(HttpRequest(server->host(), server->port(), "GET", "/healthz").status, 200u);
    const auto exit = server->SignalAndWait(SIGTERM, 20s);
    ASSERT_TRUE(exit);
    // Everything accepted is already on disk: this stop has nothing it could fail to keep.
    EXPECT_EQ(exit->Describe(), "exit 0") << server->Log();
  }
  // Space is freed; then the disk fills again before the watcher comes: its deliveries cannot be
  // recorded, and the stop says so and exits 1. Nothing is lost: the next start delivers them again.
  ASSERT_EQ(::mount("tmpfs", config.c_str(), "tmpfs", MS_REMOUNT, "size=4m,mode=0700"), 0) << std::strerror(errno);
  {
    auto second = CoderServer::Start({.args = args, .config_dir = config});
    ASSERT_TRUE(second);
    FillUp(config / "filler");
    const auto delivered = Collect(*second, accepted);
    EXPECT_EQ(Missing(accepted, delivered), 0u) << "of " << accepted.size();
    const auto exit = second->SignalAndWait(SIGTERM, 20s);
    ASSERT_TRUE(exit);
    EXPECT_EQ(exit->Describe(), "exit 1") << second->Log();
    EXPECT_THAT(second->Log(), HasSubstr("could not be marked delivered"));
    EXPECT_THAT(second->Log(), HasSubstr("shutdown could not keep every notification's state; exiting 1"));
  }
  std::filesystem::remove(config / "filler");
  auto third = CoderServer::Start({.args = args, .config_dir = config});
  ASSERT_TRUE(third);
  EXPECT_EQ(Missing(accepted, Collect(*third, accepted)), 0u);
  const auto exit = third->SignalAndWait(SIGTERM, 20s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->Describe(), "exit 0") << third->Log();
}

std::vector<std::string> PostNumbered(const CoderServer& server, int n, const std::string& body_text) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    const auto r = HttpRequest(server.host(), server.port(), "POST", "/api/v2/notifications",
                               json{{"title", "n" + std::to_string(i)}, {"body", body_text}}.dump(),
                               {{"Coder-Session-Token", server.token()}});
    EXPECT_EQ(r.status, 202u) << r.body;
    if (r.status != 202) break;
    ids.push_back(json::parse(r.body)["id"].get<std::string>());
  }
  return ids;
}

// Before, the whole backlog went into a new watcher's outbox at once: past 512 pending, every watcher,
// however fast, got 1 and was dropped as "not reading". Now the replay follows the watcher's writes.
TEST(ServerBacklogTest, AFastWatcherGetsABacklogOf2000InOrder) {
  auto server = CoderServer::Start({.args = {"--notifications-queue-size", "4000"}});
  ASSERT_TRUE(server);
  const auto ids = PostNumbered(*server, 2000, "");
  ASSERT_EQ(ids.size(), 2000u);
  std::string error;
  auto watcher = WatchClient::Connect(server->host(), server->port(), server->token(), &error);
  ASSERT_TRUE(watcher) << error;
  for (int i = 0; i < 2000; ++i) {
    const auto m = watcher->NextMessage(10s);
    ASSERT_TRUE(m) << "got " << i << " of 2000";
    ASSERT_EQ(json::parse(*m)["notification"]["id"], ids[i]) << "message " << i;
  }
  EXPECT_THAT(server->Log(), ::testing::Not(HasSubstr("not reading")));
}

// A watcher that never reads is still dropped, and what it did not take goes to the next one: every
// notification of the backlog reaches one of the two.
TEST(ServerBacklogTest, AWatcherThatNeverReadsIsDroppedAndTheNextGetsTheRest) {
  auto server = CoderServer::Start({.args = {"--notifications-queue-size", "4000"}});
  ASSERT_TRUE(server);
  // Order does not matter here: 8 clients at once, so the backlog builds up in a fraction of the time.
  std::vector<std::string> ids;
  {
    std::mutex mu;
    std::vector<std::thread> posters;
    for (int t = 0; t < 8; ++t)
      posters.emplace_back([&] {
        const auto mine = PostNumbered(*server, 250, std::string(4000, 'b'));
        std::lock_guard lock(mu);
        ids.insert(ids.end(), mine.begin(), mine.end());
      });
    for (auto& p : posters) p.join();
  }
  ASSERT_EQ(ids.size(), 2000u);
  RawWebSocket stalled(server->host(), server->port(), server->token(), /*receive_buffer=*/4096);
  ASSERT_EQ(stalled.error(), "");
  ASSERT_TRUE(server->WaitForLog("websocket watcher is not reading its notifications; closing its connection", 30s));
  std::set<std::string> got;
  for (const auto& m : stalled.ReadMessages(5s)) got.insert(json::parse(m)["notification"]["id"].get<std::string>());
  const size_t stalled_got = got.size();
  EXPECT_LT(stalled_got, 2000u);
  std::string error;
  auto next = WatchClient::Connect(server->host(), server->port(), server->token(), &error);
  ASSERT_TRUE(next) << error;
  while (got.size() < ids.size()) {
    const auto m = next->NextMessage(10s);
    if (!m) break;
    got.insert(json::parse(*m)["notification"]["id"].get<std::string>());
  }
  EXPECT_EQ(got.size(), ids.size()) << "the stalled watcher took " << stalled_got;
}

}  // namespace
}  // namespace coder::e2e
