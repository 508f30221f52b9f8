// What an outsider can put before the history: passwords in a location, names that are not text,
// times past the clock's range, another program's database.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "harness/history/history_ingest.h"
#include "harness/history/history_store.h"
#include "harness/history/history_trend.h"
#include "tests/support/temp_dir.h"

namespace coder::harness {
namespace {

TEST(DisplayLocationTest, EveryPasswordOfAUriIsHidden) {
  // The user's password longer than the rest once shifted the query's out of the mask.
  EXPECT_EQ(DisplayLocation("postgresql://user:verylongsecret@127.0.0.1:1/db?password=topsecret2"),
            "postgresql://user:***@127.0.0.1:1/db?password=***");
  EXPECT_EQ(DisplayLocation("postgresql://u:pw@h:1?password=secret&sslmode=require"),
            "postgresql://u:***@h:1?password=***&sslmode=require");
  for (const char* query : {"?sslpassword=secret", "?pass%77ord=secret", "?%70assword=secret", "?PASSWORD=secret"})
    EXPECT_EQ(DisplayLocation(std::string("postgresql://h/db") + query).find("secret"), std::string::npos) << query;
  // Spellings libpq takes, or a typo of one, that would otherwise be echoed as a file's path.
  for (const char* uri : {"POSTGRESQL://u:secret@h/db", "Postgres://u:secret@h/db", "postgresq://u:secret@h/db",
                          "host=h password=secret dbname=d", "host=h password='sec ret' dbname=d"}) {
    EXPECT_EQ(DisplayLocation(uri).find("sec"), std::string::npos) << uri << " -> " << DisplayLocation(uri);
  }
  // A password left unescaped, which libpq misreads: '?' and '/' once ended our authority early, '@'
  // let libpq quote a piece of it as a host.
  for (const char* uri : {"postgresql://u:pa?ss@h:1/db", "postgresql://u:pa/ss@h:1/db", "postgresql://u:pa#ss@h/db",
                          "postgresql://u:p@ssword@h/db"})
    EXPECT_EQ(DisplayLocation(uri).find("ss"), std::string::npos) << uri << " -> " << DisplayLocation(uri);
  EXPECT_EQ(
      WithoutPasswords("could not translate host name \"ssword@h\"", "postgresql://u:p@ssword@h/db").find("ssword"),
      std::string::npos);
  EXPECT_EQ(DisplayLocation("host=h password='unclosed"), "host=h password=***");
  EXPECT_TRUE(IsPostgresLocation("POSTGRESQL://h/db"));
  EXPECT_EQ(DisplayLocation("postgresql://u@h/db"), "postgresql://u@h/db");
  EXPECT_EQ(DisplayLocation("/var/lib/ci/history.db"), "/var/lib/ci/history.db");
  EXPECT_EQ(WithoutPasswords("bad parameter \"PASSWORD=secret\"", "postgresql://h/db?PASSWORD=secret"),
            "bad parameter \"PASSWORD=***\"");
}

TEST(CanonicalUtcTest, YearsTheClockCannotHoldAreNotTimes) {
  // Past 2262 the nanosecond clock overflowed into "1715-06-13T00:25:27.-709Z".
  EXPECT_EQ(CanonicalUtc("2300-01-01"), std::nullopt);
  EXPECT_EQ(CanonicalUtc("9999-12-31T23:59:59Z"), std::nullopt);
  EXPECT_EQ(CanonicalUtc("1600-01-01"), std::nullopt);
  EXPECT_EQ(CanonicalUtc("2200-12-31"), "2200-12-31T00:00:00.000Z");
  EXPECT_EQ(CanonicalUtc("1970-01-01"), "1970-01-01T00:00:00.000Z");
}

TEST(HistoryTrendTest, AFingerprintsNameCannotDriveTheTerminal) {
  RunWindow window;
  StoredRun run;
  run.id = 1;
  run.commit = "abcd";
  run.at = "2026-12-01T00:00:00.000Z";
  run.outcome = "clean";
  window.runs.push_back(run);
  window.fingerprints.push_back({1, "evil\x1b[2J\a"});
  const std::string table = RenderTrendTable(BuildTrend(window, {}));
  EXPECT_EQ(table.find('\x1b'), std::string::npos) << table;
  EXPECT_EQ(table.find('\a'), std::string::npos) << table;
  EXPECT_NE(table.find("evil\\x1b[2J\\x07"), std::string::npos) << table;
}

class SqliteForeignFileTest : public testing::Test {
 protected:
  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  std::string JournalMode() {
    sqlite3* db = nullptr;
    std::string mode;
    sqlite3_open(db_.c_str(), &db);
    sqlite3_exec(
        db, "PRAGMA journal_mode",
        [](void* out, int, char** values, char**) {
          *static_cast<std::string*>(out) = values[0] ? values[0] : "";
          return 0;
        },
        &mode, nullptr);
    sqlite3_close(db);
    return mode;
  }
  test_support::TempDir dir_;
  std::filesystem::path db_ = dir_.path() / "app.db";
};

TEST_F(SqliteForeignFileTest, AnotherProgramsDatabaseIsRefusedAndLeftAsItWas) {
  Sql("CREATE TABLE users (name TEXT)");
  auto store = HistoryStore::Open(db_.string());
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find("is not a coder history: it holds other tables (users)"), std::string::npos)
      << store.error().message;
  EXPECT_EQ(JournalMode(), "delete") << "refused, yet switched to WAL";
  Sql("SELECT * FROM users");  // no tables of ours were added: the file is as its program left it
}

TEST_F(SqliteForeignFileTest, AnotherProgramsTableNamedLikeOursIsStillAnotherProgramsDatabase) {
  // A table named `runs` was once taken for ours: the file was switched to WAL before the schema failed.
  Sql("CREATE TABLE runs (name TEXT)");
  auto store = HistoryStore::Open(db_.string());
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find("is not a coder history"), std::string::npos) << store.error().message;
  EXPECT_EQ(JournalMode(), "delete");
}

TEST_F(SqliteForeignFileTest, AHistoryOfAnotherVersionIsNotTouchedBeforeItIsRefused) {
  Sql("CREATE TABLE runs (id INTEGER); PRAGMA user_version=99");
  ASSERT_FALSE(HistoryStore::Open(db_.string()).ok());
  EXPECT_EQ(JournalMode(), "delete");
}

TEST_F(SqliteForeignFileTest, ANameWithANulInsideIsStoredAndReadBackWhole) {
  auto store = HistoryStore::Open((dir_.path() / "history.db").string());
  ASSERT_TRUE(store.ok()) << store.error().message;
  RunRecord run;
  run.variant = "v";
  run.fingerprints = {std::string("a\0b", 3)};
  RunOrigin origin;
  origin.at = "2026-12-01T00:00:00.000Z";
  ASSERT_TRUE((*store)->Ingest(origin, {run}).ok());
  auto window = (*store)->ReadWindow({}, "");
  ASSERT_TRUE(window.ok());
  ASSERT_EQ(window->fingerprints.size(), 1u);
  // Read up to the NUL, `show` once matched another fingerprint than `check` counted.
  EXPECT_EQ(window->fingerprints[0].fingerprint, std::string("a\0b", 3));
}

}  // namespace
}  // namespace coder::harness
