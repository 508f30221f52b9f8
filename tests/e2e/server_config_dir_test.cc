// The real `coder server` against a hostile config dir: shared, symlinked, another user's, and entries
// in it that are symlinks, FIFOs, devices, too large or partly corrupt.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/net_client.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

constexpr uid_t kOtherUid = 65534;  // nobody
const std::string kOtherToken(64, 'e');

/// A server on `config` that must refuse to start: its exit and output, within 10 s.
CoderRun RunRefused(const fs::path& config) {
  auto child = CoderServer::Launch({"--http-address", "127.0.0.1:0", "--config-dir", config.string()});
  CoderRun run;
  if (!child) return run;
  run.exit = child->WaitUntil(In(10s));
  run.output = child->Output();
  return run;
}

mode_t ModeOf(const fs::path& p) {
  struct stat st {};
  ::lstat(p.c_str(), &st);
  return st.st_mode & 07777;
}

void Write(const fs::path& p, const std::string& text, mode_t mode = 0600) {
  std::ofstream(p) << text;
  ::chmod(p.c_str(), mode);
}

class ServerConfigDirTest : public ::testing::Test {
 protected:
  TempDir dir;
};

// Before: `--config-dir /tmp` chmodded the shared directory to 0700, locking every other user out.
TEST_F(ServerConfigDirTest, ASharedWorldWritableDirIsRefusedAndLeftAsItWas) {
  const auto shared = dir.path() / "shared";
  fs::create_directory(shared);
  ::chmod(shared.c_str(), 01777);
  const auto run = RunRefused(shared);
  EXPECT_EQ(run.Exit(), "exit 1") << run.output;
  EXPECT_THAT(run.output, HasSubstr("writable by group or others; refusing it"));
  EXPECT_EQ(ModeOf(shared), 01777u);
}

// Before: a symlinked config dir had its target chmodded to 0700 and the target's `url` deleted.
TEST_F(ServerConfigDirTest, ASymlinkedConfigDirIsRefusedAndItsTargetUntouched) {
  const auto victim = dir.path() / "victim";
  fs::create_directory(victim);
  ::chmod(victim.c_str(), 0755);
  Write(victim / "url", "http://victim\n", 0644);
  fs::create_directory_symlink(victim, dir.path() / "link");
  const auto run = RunRefused(dir.path() / "link");
  EXPECT_EQ(run.Exit(), "exit 1") << run.output;
  EXPECT_THAT(run.output, HasSubstr("is a symbolic link; refusing it"));
  EXPECT_EQ(ModeOf(victim), 0755u);
  EXPECT_TRUE(fs::exists(victim / "url"));
  EXPECT_FALSE(fs::exists(victim / "session"));
}

// Before: a config dir owned by another user made the server adopt that user's session token.
TEST_F(ServerConfigDirTest, AConfigDirOwnedByAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "chown to another uid needs root";
  const auto other = dir.path() / "other";
  fs::create_directory(other);
  ::chmod(other.c_str(), 0700);
  Write(other / "session", kOtherToken + "\n");
  ASSERT_EQ(::chown((other / "session").c_str(), kOtherUid, kOtherUid), 0);
  ASSERT_EQ(::chown(other.c_str(), kOtherUid, kOtherUid), 0);
  const auto run = RunRefused(other);
  EXPECT_EQ(run.Exit(), "exit 1") << run.output;
  EXPECT_THAT(run.output, HasSubstr("is owned by uid 65534"));
  EXPECT_EQ(ModeOf(other), 0700u);
}

// Before: `session` as a symlink to another user's token file made the server adopt that token.
TEST_F(ServerConfigDirTest, ASessionSymlinkIsNeverFollowed) {
  const auto config = dir.path() / "config";
  fs::create_directory(config);
  ::chmod(config.c_str(), 0700);
  Write(dir.path() / "their-token", kOtherToken + "\n");
  fs::create_symlink(dir.path() / "their-token", config / "session");
  const auto run = RunRefused(config);
  EXPECT_EQ(run.Exit(), "exit 1") << run.output;
  EXPECT_THAT(run.output, HasSubstr("session is a symbolic link; refusing to follow it"));
  std::ifstream in(dir.path() / "their-token");
  std::string token;
  in >> token;
  EXPECT_EQ(token, kOtherToken);
}

// Before: a session token others could read (0644) stayed 0644 and stayed in use.
TEST_F(ServerConfigDirTest, AReadableSessionTokenIsReplacedByAPrivateOne) {
  const auto config = dir.path() / "config";
  fs::create_directory(config);
  ::chmod(config.c_str(), 0700);
  Write(config / "session", kOtherToken + "\n", 0644);
  auto server = CoderServer::Start({.config_dir = config});
  ASSERT_TRUE(server);
  EXPECT_EQ(ModeOf(config / "session"), 0600u);
  EXPECT_NE(server->token(), kOtherToken);
  EXPECT_THAT(server->Log(), HasSubstr("the session token file was readable by group or others; replacing the token"));
  const auto refused = HttpRequest(server->host(), server->port(), "POST", "/api/v2/notifications", R"({"title":"x"})",
                                   {{"Coder-Session-Token", kOtherToken}});
  EXPECT_EQ(refused.status, 401u);
}

// Before: a FIFO as `session` hung start-up forever (and SIGTERM was never looked at).
TEST_F(ServerConfigDirTest, ASessionThatIsAFifoFailsStartUpAtOnce) {
  const auto config = dir.path() / "config";
  fs::create_directory(config);
  ::chmod(config.c_str(), 0700);
  ASSERT_EQ(::mkfifo((config / "session").c_str(), 0600), 0);
  const auto run = RunRefused(config);
  EXPECT_EQ(run.Exit(), "exit 1") << run.output;
  EXPECT_THAT(run.output, HasSubstr("session is a FIFO; refusing to read it"));
}

// The database and its WAL are never reached through a symlink nor opened if they are not files.
TEST_F(ServerConfigDirTest, AStateDatabaseThatIsNotARegularFileIsRefused) {
  const auto config = dir.path() / "config";
  fs::create_directory(config);
  ::chmod(config.c_str(), 0700);
  Write(dir.path() / "elsewhere.db", "");
  fs::create_symlink(dir.path() / "elsewhere.db", config / "state.db");
  auto run = RunRefused(config);
  EXPECT_EQ(run.Exit(), "exit 1") << run.output;
  EXPECT_THAT(run.output, HasSubstr("state.db is a symbolic link; refusing to use it"));
  fs::remove(config / "state.db");
  ASSERT_EQ(::mkfifo((config / "state.db-wal").c_str(), 0600), 0);
  run = RunRefused(config);
  EXPECT_EQ(run.Exit(), "exit 1") << run.output;
  EXPECT_THAT(run.output, HasSubstr("state.db-wal is a FIFO; refusing to use it"));
}

class ServerOldStateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config = dir.path() / "config";
    fs::create_directory(config);
    ::chmod(config.c_str(), 0700);
  }
  std::vector<std::string> Quarantined() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(config))
      if (e.path().filename().string().rfind("notifications.json.corrupt-", 0) == 0)
        names.push_back(e.path().filename().string());
    return names;
  }
  /// Starts on `config` (within 10 s, or the test fails) and stops it again with SIGTERM.
  std::string StartAndStop() {
    auto server = CoderServer::Start({.config_dir = config});
    EXPECT_TRUE(server);
    if (!server) return "";
    const auto exit = server->SignalAndWait(SIGTERM, 20s);
    EXPECT_TRUE(exit && exit->Describe() == "exit 0") << server->Log();
    return server->Log();
  }
  TempDir dir;
  fs::path config;
};

// Before: an old state file that was a FIFO hung start-up forever, SIGTERM ignored.
TEST_F(ServerOldStateFileTest, AFifoIsMovedAsideAndStartUpGoesOn) {
  ASSERT_EQ(::mkfifo((config / "notifications.json").c_str(), 0600), 0);
  const auto log = StartAndStop();
  EXPECT_THAT(log, HasSubstr("is a FIFO; refusing to read it"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(config / "notifications.json")));
  EXPECT_EQ(Quarantined().size(), 1u);
}

// Before: a state file that was /dev/zero grew the server to 8.5 GiB in 26 s. Devices are never read,
// and a regular file over the bound is not read either.
TEST_F(ServerOldStateFileTest, ADeviceOrAnOversizedFileIsMovedAsideUnread) {
  if (::geteuid() != 0) GTEST_SKIP() << "mknod needs root";
  ASSERT_EQ(::mknod((config / "notifications.json").c_str(), S_IFCHR | 0600, makedev(1, 5)), 0);  // /dev/zero
  auto log = StartAndStop();
  EXPECT_THAT(log, HasSubstr("is a character device; refusing to read it"));
  {
    const int fd = ::open((config / "notifications.json").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, (64 << 20) + 1), 0);  // sparse: no disk used
    ::close(fd);
  }
  log = StartAndStop();
  EXPECT_THAT(log, HasSubstr("over the 67108864 byte limit"));
  EXPECT_EQ(Quarantined().size(), 2u);  // the second quarantine does not overwrite the first
}

// Before: one bad entry dropped every good one after it. Now each good entry is imported and delivered,
// the file is kept aside for its bad entry, and a second bad file gets its own quarantine name.
TEST_F(ServerOldStateFileTest, OneBadEntryCostsOnlyItselfAndEachQuarantineIsKept) {
  auto write_state = [&](const std::string& prefix) {
    const json doc = {{"version", 1},
                      {"pending", json::array({json{{"title", prefix + "-first"}}, json{{"title", 5}},
                                               json{{"title", prefix + "-last"}}})}};
    Write(config / "notifications.json", doc.dump());
  };
  write_state("a");
  StartAndStop();
  write_state("b");
  auto server = CoderServer::Start({.config_dir = config});
  ASSERT_TRUE(server);
  EXPECT_THAT(server->Log(), HasSubstr("imported the old pending-notifications file into the database  count=2"));
  EXPECT_THAT(server->Log(), HasSubstr("loaded undelivered notifications from the previous run  count=4"));
  EXPECT_EQ(Quarantined().size(), 2u);
  std::string error;
  auto watcher = WatchClient::Connect(server->host(), server->port(), server->token(), &error);
  ASSERT_TRUE(watcher) << error;
  std::vector<std::string> titles;
  for (int i = 0; i < 4; ++i) {
    const auto m = watcher->NextMessage(10s);
    ASSERT_TRUE(m) << "got " << i << " of 4";
    titles.push_back(json::parse(*m)["notification"]["title"].get<std::string>());
  }
  EXPECT_THAT(titles, ::testing::ElementsAre("a-first", "a-last", "b-first", "b-last"));
}

// The old format is imported once: delivered from the database afterwards, the file gone.
TEST_F(ServerOldStateFileTest, AGoodOldStateFileIsImportedOnceThenRemoved) {
  Write(config / "notifications.json",
        json{{"version", 1}, {"pending", json::array({json{{"title", "kept"}}})}}.dump());
  StartAndStop();
  EXPECT_FALSE(fs::exists(config / "notifications.json"));
  EXPECT_TRUE(Quarantined().empty());
  auto server = CoderServer::Start({.config_dir = config});
  ASSERT_TRUE(server);
  EXPECT_THAT(server->Log(), HasSubstr("loaded undelivered notifications from the previous run  count=1"));
}

}  // namespace
}  // namespace coder::e2e
