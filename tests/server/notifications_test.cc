#include "server/notifications.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "common/file_util.h"
#include "tests/server/test_support.h"
#include "tests/support/temp_dir.h"

namespace coder::server {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class RecordingWatcher final : public NotificationWatcher {
 public:
  void Deliver(const Notification& n, uint64_t seq) override {
    std::lock_guard lock(mu);
    titles.push_back(n.title);
    seqs.push_back(seq);
  }
  std::mutex mu;
  std::vector<std::string> titles;
  std::vector<uint64_t> seqs;
};

class NotificationsManagerTest : public ::testing::Test {
 protected:
  std::unique_ptr<NotificationsManager> Make(size_t capacity = 16) {
    auto config = ConfigDir::Open(dir.path());
    EXPECT_TRUE(config.ok()) << config.error().message;
    auto store = NotificationStore::Open(*config, "state.db", log.logger());
    EXPECT_TRUE(store.ok()) << store.error().message;
    auto m = std::make_unique<NotificationsManager>(std::move(*store), capacity, log.logger());
    return m;
  }
  std::filesystem::path state_file() const { return dir.path() / "notifications.json"; }
  std::filesystem::path database() const { return dir.path() / "state.db"; }
  /// Registers `w` and hands it the backlog, as a watch session does step by step.
  static void Register(NotificationsManager& m, const std::shared_ptr<RecordingWatcher>& w) {
    const uint64_t until = m.AddWatcher(w);
    for (const auto& [seq, n] : m.Backlog(0, until, SIZE_MAX)) w->Deliver(n, seq);
  }
  static std::string Accept(NotificationsManager& m, const std::string& title) {
    auto r = m.Enqueue(json{{"title", title}});
    EXPECT_TRUE(std::holds_alternative<Notification>(r));
    return std::get<Notification>(r).id;
  }
  static auto Deadline(std::chrono::milliseconds d) { return std::chrono::steady_clock::now() + d; }

  std::vector<std::string> Quarantined() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir.path()))
      if (e.path().filename().string().rfind("notifications.json.corrupt-", 0) == 0)
        names.push_back(e.path().filename().string());
    return names;
  }

  test_support::TempDir dir;
  testing::LogCapture log;
};

TEST_F(NotificationsManagerTest, AcceptsValidRequestsAndAssignsIdAndTime) {
  auto m = Make();
  auto r = m->Enqueue(json{{"title", "disk full"}, {"body", "/var at 99%"}, {"severity", "error"}});
  ASSERT_TRUE(std::holds_alternative<Notification>(r));
  const auto& n = std::get<Notification>(r);
  EXPECT_EQ(n.id.size(), 36u);
  EXPECT_EQ(n.severity, "error");
  EXPECT_FALSE(n.created_at.empty());
  EXPECT_EQ(m->pending(), 1u);
}

TEST_F(NotificationsManagerTest, RejectsInvalidRequestsWithAReason) {
  auto m = Make();
  for (const json& bad : {json::array(), json{{"body", "no title"}}, json{{"title", 5}},
                          json{{"title", std::string(201, 'x')}}, json{{"title", "x"}, {"id", "mine"}}}) {
    auto r = m->Enqueue(bad);
    ASSERT_TRUE(std::holds_alternative<NotificationsManager::Rejection>(r)) << bad;
    EXPECT_EQ(std::get<NotificationsManager::Rejection>(r).reason, NotificationsManager::RejectReason::kInvalid);
  }
  EXPECT_EQ(m->pending(), 0u);
}

TEST_F(NotificationsManagerTest, AFullQueueRejectsUntilSomethingIsDelivered) {
  auto m = Make(2);
  Accept(*m, "a");
  Accept(*m, "b");
  auto full = m->Enqueue(json{{"title", "c"}});
  ASSERT_TRUE(std::holds_alternative<NotificationsManager::Rejection>(full));
  EXPECT_EQ(std::get<NotificationsManager::Rejection>(full).reason, NotificationsManager::RejectReason::kQueueFull);
  auto watcher = std::make_shared<RecordingWatcher>();
  Register(*m, watcher);
  m->MarkDelivered(watcher->seqs.at(0));
  Accept(*m, "c");
}

TEST_F(NotificationsManagerTest, BroadcastsToEveryWatcherAndANewWatcherGetsTheBacklog) {
  auto m = Make();
  auto early = std::make_shared<RecordingWatcher>();
  Register(*m, early);
  Accept(*m, "one");
  auto late = std::make_shared<RecordingWatcher>();
  Register(*m, late);
  Accept(*m, "two");
  EXPECT_THAT(early->titles, ElementsAre("one", "two"));
  EXPECT_THAT(late->titles, ElementsAre("one", "two"));
}

TEST_F(NotificationsManagerTest, StaysPendingUntilAWatcherHasWrittenIt) {
  auto m = Make();
  auto w = std::make_shared<RecordingWatcher>();
  Register(*m, w);
  Accept(*m, "x");
  EXPECT_EQ(m->pending(), 1u);
  m->MarkDelivered(w->seqs[0]);
  m->MarkDelivered(w->seqs[0]);  // a second watcher's confirmation is a no-op
  EXPECT_EQ(m->pending(), 0u);
}

TEST_F(NotificationsManagerTest, AWatcherThatDiesWithoutUnregisteringIsSkipped) {
  auto m = Make();
  {
    auto gone = std::make_shared<RecordingWatcher>();
    Register(*m, gone);
  }
  Accept(*m, "x");  // must not touch the dead watcher
  EXPECT_EQ(m->pending(), 1u);
}

TEST_F(NotificationsManagerTest, CloseKeepsWhatIsUndeliveredAndTheNextStartLoadsIt) {
  std::vector<std::string> ids;
  {
    auto m = Make();
    for (const char* t : {"a", "b", "c"}) ids.push_back(Accept(*m, t));
    auto kept = m->Close(Deadline(10s));  // no watcher: nothing to wait for
    ASSERT_TRUE(kept.ok());
    EXPECT_EQ(*kept, 3u);
  }
  auto next = Make();
  ASSERT_TRUE(next->LoadPending().ok());
  auto w = std::make_shared<RecordingWatcher>();
  Register(*next, w);
  EXPECT_THAT(w->titles, ElementsAre("a", "b", "c"));
  EXPECT_THAT(log.Text(), HasSubstr("loaded undelivered notifications from the previous run  count=3"));
}

TEST_F(NotificationsManagerTest, CloseWaitsForWatchersToTakeWhatIsPending) {
  auto m = Make();
  auto w = std::make_shared<RecordingWatcher>();
  Register(*m, w);
  Accept(*m, "x");
  std::thread writer([&] { m->MarkDelivered(w->seqs[0]); });
  auto kept = m->Close(Deadline(10s));
  writer.join();
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, 0u);
}

TEST_F(NotificationsManagerTest, CloseIsIdempotentAndRefusesNewNotifications) {
  auto m = Make();
  Accept(*m, "x");
  auto first = m->Close(Deadline(1s));
  auto second = m->Close(Deadline(1s));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first, *second);
  auto late = m->Enqueue(json{{"title", "late"}});
  ASSERT_TRUE(std::holds_alternative<NotificationsManager::Rejection>(late));
  EXPECT_EQ(std::get<NotificationsManager::Rejection>(late).reason, NotificationsManager::RejectReason::kClosed);
}

TEST_F(NotificationsManagerTest, AnUnreadableOldStateFileIsMovedAsideNotDeleted) {
  std::ofstream(state_file()) << "{not json";
  auto m = Make();
  EXPECT_TRUE(m->LoadPending(&*ConfigDir::Open(dir.path()), "notifications.json").ok());
  EXPECT_EQ(m->pending(), 0u);
  EXPECT_FALSE(std::filesystem::exists(state_file()));
  EXPECT_EQ(Quarantined().size(), 1u);
  EXPECT_THAT(log.Text(), HasSubstr("pending notifications file is unreadable; moved aside"));
}

// Group commit: requests that arrive while a commit runs share the next one, and each is answered only
// once its own commit is done (all of them are in the database for the next start).
TEST_F(NotificationsManagerTest, ConcurrentNotificationsShareCommitsAndAreAllDurable) {
  constexpr int kThreads = 8, kEach = 50;
  auto config = ConfigDir::Open(dir.path());
  ASSERT_TRUE(config.ok());
  auto store = NotificationStore::Open(*config, "state.db", log.logger());
  ASSERT_TRUE(store.ok()) << store.error().message;
  NotificationStore* raw = store->get();
  {
    NotificationsManager m(std::move(*store), 1000, log.logger());
    std::vector<std::thread> threads;
    std::atomic<int> accepted{0};
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&] {
        for (int i = 0; i < kEach; ++i)
          if (std::holds_alternative<Notification>(m.Enqueue(json{{"title", "n"}}))) ++accepted;
      });
    for (auto& t : threads) t.join();
    EXPECT_EQ(accepted, kThreads * kEach);
    EXPECT_LT(raw->insert_commits(), static_cast<uint64_t>(kThreads * kEach));
    EXPECT_GT(raw->insert_commits(), 0u);
  }
  auto next = Make(1000);
  ASSERT_TRUE(next->LoadPending().ok());
  EXPECT_EQ(next->pending(), static_cast<size_t>(kThreads * kEach));
}

TEST_F(NotificationsManagerTest, TheDatabaseIsPrivate) {
  auto m = Make();
  Accept(*m, "secret");
  ASSERT_TRUE(m->Close(Deadline(1s)).ok());
  for (const char* name : {"state.db", "state.db-wal"}) {
    const auto perms = std::filesystem::status(dir.path() / name).permissions() & std::filesystem::perms::all;
    EXPECT_EQ(perms, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write) << name;
  }
}

}  // namespace
}  // namespace coder::server
