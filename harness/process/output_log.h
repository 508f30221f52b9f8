#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

namespace coder::harness {

/// One line a child printed, without its line terminator ("\n" or "\r\n").
struct OutputLine {
  std::chrono::steady_clock::time_point at;  ///< when the harness read it (monotonic)
  int stream = 1;                            ///< 1 stdout, 2 stderr
  std::string text;
  bool truncated = false;  ///< the line was longer than max_line_bytes; its tail was discarded
};

/// Splits one byte stream into lines. A line longer than `max_line_bytes` is emitted as soon as it
/// reaches that length, marked truncated, and the rest up to its newline is discarded and counted, so
/// memory stays bounded even for a stream without newlines. Not thread-safe (one per stream).
class LineSplitter {
 public:
  using Emit = std::function<void(std::string&& text, bool truncated)>;

  explicit LineSplitter(size_t max_line_bytes);

  /// Emits every line completed by `data`, in order.
  void Feed(std::string_view data, const Emit& emit);
  /// At end of stream: emits an unterminated last line, if any.
  void Finish(const Emit& emit);
  /// Bytes discarded from truncated lines so far.
  uint64_t truncated_bytes() const { return truncated_bytes_; }

 private:
  size_t max_line_bytes_;
  std::string partial_;
  bool discarding_ = false;  // inside the tail of a truncated line
  uint64_t truncated_bytes_ = 0;
};

/// The most recent lines, bounded in memory: each line costs its text plus kLineOverheadBytes, and
/// the oldest lines are evicted once the total would exceed the capacity. The newest line is always
/// kept, so the bound is capacity + one line. Not thread-safe (the owner locks).
class LineRing {
 public:
  static constexpr size_t kLineOverheadBytes = 64;

  explicit LineRing(size_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}

  void Push(OutputLine line);
  const std::deque<OutputLine>& lines() const { return lines_; }
  /// Accounted bytes currently held (text plus per-line overhead).
  size_t retained_bytes() const { return retained_bytes_; }
  /// Output bytes (text plus newline) of evicted lines.
  uint64_t evicted_bytes() const { return evicted_bytes_; }

 private:
  size_t capacity_bytes_;
  size_t retained_bytes_ = 0;
  uint64_t evicted_bytes_ = 0;
  std::deque<OutputLine> lines_;
};

}  // namespace coder::harness
