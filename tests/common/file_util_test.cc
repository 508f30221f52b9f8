#include "common/file_util.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"

namespace coder {
namespace {

namespace fs = std::filesystem;

/// A fresh temporary directory per test, removed afterwards.
class FileUtilTest : public ::testing::Test {
 protected:
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    return names;
  }
  std::string Read(const fs::path& p) const {
    auto r = ReadFile(p);
    return r.ok() ? *r : "<" + r.error().message + ">";
  }

  test_support::TempDir temp_{"file-util"};
  const fs::path dir_ = temp_.path();
};

using WriteFileAtomicallyTest = FileUtilTest;

/// Sets the process umask for one scope.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

fs::perms PermsOf(const fs::path& p) { return fs::status(p).permissions() & fs::perms::all; }

TEST_F(WriteFileAtomicallyTest, WritesTheContentWithTheModeNarrowedByTheUmaskLikeOpen) {
  const auto path = dir_ / "report.json";
  {
    ScopedUmask umask(022);
    ASSERT_TRUE(WriteFileAtomically(path, "first\n", 0644).ok());
  }
  EXPECT_EQ(Read(path), "first\n");
  EXPECT_EQ(PermsOf(path),
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  {
    // A user who keeps their files private gets a private report.
    ScopedUmask umask(077);
    ASSERT_TRUE(WriteFileAtomically(path, "second\n", 0644).ok());
  }
  EXPECT_EQ(Read(path), "second\n");
  EXPECT_EQ(PermsOf(path), fs::perms::owner_read | fs::perms::owner_write);
  {
    ScopedUmask umask(022);
    ASSERT_TRUE(WriteFileAtomically(path, "third\n", 0600).ok());
  }
  EXPECT_EQ(PermsOf(path), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(Names(), std::vector<std::string>{"report.json"}) << "a temporary was left beside the file";
}

// In a shared directory anyone can plant a symlink at a predictable temporary name; the writer must
// neither follow it nor write through one at the path itself.
TEST_F(WriteFileAtomicallyTest, NeverWritesThroughAPlantedSymlink) {
  const auto victim = dir_ / "victim";
  ASSERT_TRUE(WriteFileAtomically(victim, "keep me\n").ok());
  const auto path = dir_ / "report.json";
  fs::create_symlink(victim, dir_ / "report.json.tmp");
  ASSERT_TRUE(WriteFileAtomically(path, "report\n").ok());
  EXPECT_EQ(Read(victim), "keep me\n");
  EXPECT_EQ(Read(path), "report\n");
  EXPECT_FALSE(fs::is_symlink(path));

  fs::remove(path);
  fs::create_symlink(victim, path);
  ASSERT_TRUE(WriteFileAtomically(path, "again\n").ok());
  EXPECT_EQ(Read(victim), "keep me\n");
  EXPECT_FALSE(fs::is_symlink(path));
  EXPECT_EQ(Read(path), "again\n");
}

// Two `coder diag` runs given one report path: each rename installs one writer's file whole. With a
// shared temporary name, one writer's O_TRUNC cut the other's content short.
TEST_F(WriteFileAtomicallyTest, ConcurrentWritersOfOnePathNeverTearIt) {
  const auto path = dir_ / "report.json";
  const std::string a(64 * 1024, 'a');
  const std::string b(64 * 1024, 'b');
  ASSERT_TRUE(WriteFileAtomically(path, a).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::atomic<int> failed{0};
  std::thread reader([&] {
    while (!stop) {
      const std::string seen = Read(path);
      if (seen != a && seen != b) ++torn;
    }
  });
  auto writer = [&](const std::string& content) {
    for (int i = 0; i < 40; ++i)
      if (!WriteFileAtomically(path, content).ok()) ++failed;
  };
  std::thread wa(writer, std::cref(a));
  std::thread wb(writer, std::cref(b));
  wa.join();
  wb.join();
  stop = true;
  reader.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(Names(), std::vector<std::string>{"report.json"});
}

TEST_F(WriteFileAtomicallyTest, AMissingDirectoryIsAnErrorNamingThePath) {
  const auto path = dir_ / "no-such-dir" / "report.json";
  const auto r = WriteFileAtomically(path, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(path.string()), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("No such file or directory"), std::string::npos) << r.error().message;
}

using EnsurePrivateDirTest = FileUtilTest;

TEST_F(EnsurePrivateDirTest, CreatesOrRestrictsTheDirectoryToItsOwner) {
  const auto created = dir_ / "a" / "b";
  ASSERT_TRUE(EnsurePrivateDir(created).ok());
  EXPECT_EQ(PermsOf(created), fs::perms::owner_all);
  const auto existing = dir_ / "open";
  fs::create_directory(existing);
  fs::permissions(existing, fs::perms::all);
  ASSERT_TRUE(EnsurePrivateDir(existing).ok());
  ASSERT_TRUE(EnsurePrivateDir(existing).ok());  // twice is fine
  EXPECT_EQ(PermsOf(existing), fs::perms::owner_all);
}

}  // namespace
}  // namespace coder
