#include "tests/support/temp_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <utility>

namespace coder::test_support {
namespace {

namespace fs = std::filesystem;

TEST(TempDirTest, IsAFreshPrivateDirectoryRemovedWithItsContents) {
  fs::path where;
  {
    const TempDir dir("temp-dir-test");
    where = dir.path();
    EXPECT_EQ(where.parent_path(), fs::temp_directory_path());
    EXPECT_EQ(where.filename().string().rfind("coder-temp-dir-test-", 0), 0u) << where;
    struct stat st {};
    ASSERT_EQ(::lstat(where.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    fs::create_directories(where / "a" / "b");
    std::ofstream(where / "a" / "b" / "file") << "x";
  }
  EXPECT_FALSE(fs::exists(where));
}

TEST(TempDirTest, RemoveIsIdempotentAndTakesDirectoriesATestLockedWithIt) {
  TempDir dir("temp-dir-test");
  for (const auto* name : {"read-only", "unreadable", "no-search"}) {
    fs::create_directories(dir.path() / name / "inner");
    std::ofstream(dir.path() / name / "inner" / "file") << "x";
  }
  fs::permissions(dir.path() / "read-only", fs::perms::owner_read | fs::perms::owner_exec);
  fs::permissions(dir.path() / "unreadable", fs::perms::owner_write | fs::perms::owner_exec);
  fs::permissions(dir.path() / "no-search", fs::perms::owner_read | fs::perms::owner_write);
  dir.Remove();
  EXPECT_FALSE(fs::exists(dir.path()));
  dir.Remove();
  EXPECT_FALSE(fs::exists(dir.path()));
}

TEST(TempDirTest, NeverFollowsALinkOutOfItself) {
  const TempDir outside("temp-dir-test");
  std::ofstream(outside.path() / "kept") << "x";
  fs::permissions(outside.path(), fs::perms::owner_read | fs::perms::owner_exec);
  {
    const TempDir dir("temp-dir-test");
    fs::create_directory_symlink(outside.path(), dir.path() / "link");
  }
  EXPECT_TRUE(fs::exists(outside.path() / "kept"));
  EXPECT_EQ(fs::status(outside.path()).permissions() & fs::perms::owner_all,
            fs::perms::owner_read | fs::perms::owner_exec);
}

TEST(TempDirTest, AMovedFromTempDirOwnsNothing) {
  TempDir first("temp-dir-test");
  const fs::path where = first.path();
  TempDir second = std::move(first);
  EXPECT_TRUE(first.path().empty());
  first.Remove();
  EXPECT_EQ(second.path(), where);
  EXPECT_TRUE(fs::is_directory(where));
}

TEST(TempDirTest, CreateNamesThePathAndTheCauseWhenItCannot) {
  const TempDir dir("temp-dir-test");
  const auto made = TempDir::Create("x", dir.path() / "missing");
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.error().message.find((dir.path() / "missing" / "coder-x-XXXXXX").string()), std::string::npos)
      << made.error().message;
  EXPECT_NE(made.error().message.find("No such file or directory"), std::string::npos) << made.error().message;
  EXPECT_THROW(TempDir("x", dir.path() / "missing"), std::runtime_error);
}

}  // namespace
}  // namespace coder::test_support
