#include "harness/process/output_log.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace coder::harness {
namespace {

struct Collected {
  std::vector<std::pair<std::string, bool>> lines;
  LineSplitter::Emit Sink() {
    return [this](std::string&& text, bool truncated) { lines.emplace_back(std::move(text), truncated); };
  }
};

TEST(ChildProcessOutputTest, SplitsLinesAcrossChunksAndStripsCarriageReturns) {
  LineSplitter splitter(100);
  Collected c;
  splitter.Feed("one\r\ntw", c.Sink());
  splitter.Feed("o\n\nthree", c.Sink());
  EXPECT_EQ(c.lines.size(), 3u);
  splitter.Finish(c.Sink());
  ASSERT_EQ(c.lines.size(), 4u);
  EXPECT_EQ(c.lines[0].first, "one");
  EXPECT_EQ(c.lines[1].first, "two");
  EXPECT_EQ(c.lines[2].first, "");
  EXPECT_EQ(c.lines[3].first, "three");
  for (const auto& l : c.lines) EXPECT_FALSE(l.second);
}

TEST(ChildProcessOutputTest, TruncatesLongLinesWithoutBufferingTheirTail) {
  LineSplitter splitter(4);
  Collected c;
  splitter.Feed("abcdefgh", c.Sink());  // emitted at once, before any newline arrives
  ASSERT_EQ(c.lines.size(), 1u);
  EXPECT_EQ(c.lines[0], (std::pair<std::string, bool>{"abcd", true}));
  splitter.Feed("ijk\nxy\n", c.Sink());
  ASSERT_EQ(c.lines.size(), 2u);
  EXPECT_EQ(c.lines[1], (std::pair<std::string, bool>{"xy", false}));
  EXPECT_EQ(splitter.truncated_bytes(), 7u);
}

TEST(ChildProcessOutputTest, LineOfExactlyTheLimitIsNotTruncatedEvenWhenSplit) {
  LineSplitter splitter(4);
  Collected c;
  splitter.Feed("ab", c.Sink());
  splitter.Feed("cd", c.Sink());
  splitter.Feed("\n", c.Sink());
  ASSERT_EQ(c.lines.size(), 1u);
  EXPECT_EQ(c.lines[0], (std::pair<std::string, bool>{"abcd", false}));
  EXPECT_EQ(splitter.truncated_bytes(), 0u);
}

TEST(ChildProcessOutputTest, RingEvictsOldestLinesAndCountsTheirBytes) {
  constexpr size_t kLine = 36;  // 36 + 64 overhead = 100 accounted bytes per line
  LineRing ring(350);
  for (int i = 0; i < 10; ++i) ring.Push(OutputLine{{}, 1, std::string(kLine, static_cast<char>('a' + i)), false});
  ASSERT_EQ(ring.lines().size(), 3u);
  EXPECT_EQ(ring.lines().front().text[0], 'h');
  EXPECT_EQ(ring.retained_bytes(), 300u);
  EXPECT_EQ(ring.evicted_bytes(), 7 * (kLine + 1));
}

TEST(ChildProcessOutputTest, RingKeepsTheNewestLineEvenWhenItAloneExceedsCapacity) {
  LineRing ring(10);
  ring.Push(OutputLine{{}, 1, "first", false});
  ring.Push(OutputLine{{}, 1, "second", false});
  ASSERT_EQ(ring.lines().size(), 1u);
  EXPECT_EQ(ring.lines().front().text, "second");
}

}  // namespace
}  // namespace coder::harness
