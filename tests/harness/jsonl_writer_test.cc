#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness/report/report.h"
#include "tests/support/temp_dir.h"

namespace coder::harness {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> ReadLines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(JsonlWriterTest, AppendingRecordsFromManyThreadsYieldsOneParseableLineEach) {
  test_support::TempDir dir("jsonl-test");
  const fs::path path = dir.path() / "runs.jsonl";
  { std::ofstream(path) << "stale content from an earlier run\n"; }
  auto writer = JsonlWriter::Open(path);
  ASSERT_TRUE(writer.ok()) << writer.error().message;
  EXPECT_EQ(fs::file_size(path), 0u);  // truncated

  constexpr int kThreads = 4, kPerThread = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        RunRecord r;
        r.variant = "v" + std::to_string(t);
        r.index = i;
        r.log_tail = std::vector<std::string>(20, std::string(200, 'x'));  // lines longer than a pipe-sized chunk
        EXPECT_TRUE((*writer)->Append(r).ok());
      }
    });
  }
  for (auto& th : threads) th.join();

  // Readable while the writer is still open: nothing waits in a user-space buffer.
  const auto lines = ReadLines(path);
  ASSERT_EQ(lines.size(), size_t{kThreads * kPerThread});
  std::set<std::pair<std::string, int>> seen;
  for (const std::string& line : lines) {
    const auto r = RunRecord::FromJson(nlohmann::json::parse(line));
    ASSERT_TRUE(r.has_value()) << line.substr(0, 80);
    seen.emplace(r->variant, r->index);
  }
  EXPECT_EQ(seen.size(), size_t{kThreads * kPerThread});
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
}

TEST(JsonlWriterTest, OpeningInAMissingDirectoryIsAClearError) {
  test_support::TempDir dir("jsonl-test");
  const fs::path path = dir.path() / "missing" / "runs.jsonl";
  const auto writer = JsonlWriter::Open(path);
  ASSERT_FALSE(writer.ok());
  const std::string& message = writer.error().message;
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("No such file or directory"), std::string::npos) << message;
}

TEST(JsonlWriterTest, OpeningInAnUnwritableDirectoryIsAClearError) {
  test_support::TempDir dir("jsonl-test");
  fs::path path = dir.path() / "read-only" / "runs.jsonl";
  fs::create_directories(path.parent_path());
  fs::permissions(path.parent_path(), fs::perms::owner_read | fs::perms::owner_exec);
  // root ignores mode bits; sysfs refuses new files even to root.
  if (::geteuid() == 0) path = "/sys/coder-jsonl-test.jsonl";
  const auto writer = JsonlWriter::Open(path);
  if (writer.ok()) fs::remove(path);
  ASSERT_FALSE(writer.ok());
  const std::string& message = writer.error().message;
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("cannot open JSON lines file"), std::string::npos) << message;
}

TEST(JsonlWriterTest, OpeningADirectoryIsAClearError) {
  test_support::TempDir dir("jsonl-test");
  const auto writer = JsonlWriter::Open(dir.path());
  ASSERT_FALSE(writer.ok());
  EXPECT_NE(writer.error().message.find("Is a directory"), std::string::npos) << writer.error().message;
}

}  // namespace
}  // namespace coder::harness
