#include "server/notifications.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "common/file_util.h"
#include "tests/e2e/coder_server.h"
#include "tests/server/test_support.h"

namespace coder::server {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using nlohmann::json;

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
    return std::make_unique<NotificationsManager>(state_file(), capacity, log.logger());
  }
  std::filesystem::path state_file() const { return dir.path() / "notifications.json"; }
  static std::string Accept(NotificationsManager& m, const std::string& title) {
    auto r = m.Enqueue(json{{"title", title}});
    EXPECT_TRUE(std::holds_alternative<Notification>(r));
    return std::get<Notification>(r).id;
  }
  static auto Deadline(std::chrono::milliseconds d) { return std::chrono::steady_clock::now() + d; }

  e2e::TempDir dir;
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
  m->AddWatcher(watcher);
  m->MarkDelivered(watcher->seqs.at(0));
  Accept(*m, "c");
}

TEST_F(NotificationsManagerTest, BroadcastsToEveryWatcherAndANewWatcherGetsTheBacklog) {
  auto m = Make();
  auto early = std::make_shared<RecordingWatcher>();
  m->AddWatcher(early);
  Accept(*m, "one");
  auto late = std::make_shared<RecordingWatcher>();
  m->AddWatcher(late);
  Accept(*m, "two");
  EXPECT_THAT(early->titles, ElementsAre("one", "two"));
  EXPECT_THAT(late->titles, ElementsAre("one", "two"));
}

TEST_F(NotificationsManagerTest, StaysPendingUntilAWatcherHasWrittenIt) {
  auto m = Make();
  auto w = std::make_shared<RecordingWatcher>();
  m->AddWatcher(w);
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
    m->AddWatcher(gone);
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
  next->AddWatcher(w);
  EXPECT_THAT(w->titles, ElementsAre("a", "b", "c"));
  EXPECT_THAT(log.Text(), HasSubstr("loaded undelivered notifications from the previous run  count=3"));
}

TEST_F(NotificationsManagerTest, CloseWaitsForWatchersToTakeWhatIsPending) {
  auto m = Make();
  auto w = std::make_shared<RecordingWatcher>();
  m->AddWatcher(w);
  Accept(*m, "x");
  std::thread writer([&] { m->MarkDelivered(w->seqs[0]); });
  auto kept = m->Close(Deadline(10s));
  writer.join();
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, 0u);
  EXPECT_FALSE(std::filesystem::exists(state_file()));
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

TEST_F(NotificationsManagerTest, AnUnreadableStateFileIsMovedAsideNotDeleted) {
  std::ofstream(state_file()) << "{not json";
  auto m = Make();
  EXPECT_TRUE(m->LoadPending().ok());
  EXPECT_EQ(m->pending(), 0u);
  EXPECT_TRUE(std::filesystem::exists(state_file().string() + ".corrupt"));
  EXPECT_THAT(log.Text(), HasSubstr("pending notifications file is unreadable; moved aside"));
}

TEST_F(NotificationsManagerTest, TheStateFileIsPrivate) {
  auto m = Make();
  Accept(*m, "secret");
  ASSERT_TRUE(m->Close(Deadline(1s)).ok());
  const auto perms = std::filesystem::status(state_file()).permissions() & std::filesystem::perms::all;
  EXPECT_EQ(perms, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

}  // namespace
}  // namespace coder::server
