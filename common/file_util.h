#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.h"

namespace coder {

/// Writes a file atomically: a uniquely named temporary beside it (`PATH.tmp-` and 12 hex digits,
/// created O_EXCL), fsync, rename. Readers see the old content or the new, never a torn file, also with
/// several writers of one path at once (the last rename wins). The new file gets `mode` narrowed by the
/// umask, like any file open(2) creates. Thread-safe. On a returned error the old file is untouched and
/// no temporary is left; a process killed mid-write leaves its temporary behind.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view content, unsigned mode = 0644);

/// WriteFileAtomically for content written piece by piece (a report too large to build in memory):
/// Write appends to a buffer flushed every 1 MiB, Commit fsyncs and renames. A writer destroyed, or
/// Abandon()ed, before Commit removes its temporary and leaves the old file untouched; Abandon is
/// idempotent. Not thread-safe.
class AtomicFileWriter {
 public:
  /// The Error names `path` and the reason.
  static Result<AtomicFileWriter> Open(const std::filesystem::path& path, unsigned mode = 0644);
  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&&) = delete;
  ~AtomicFileWriter() { Abandon(); }

  /// After an Error every later call fails with it too (the first error is kept).
  Status Write(std::string_view text);
  Status Commit();
  void Abandon();

 private:
  AtomicFileWriter(std::filesystem::path path, std::string tmp, int fd)
      : path_(std::move(path)), tmp_(std::move(tmp)), fd_(fd) {}
  Status Flush();
  Status Fail(int err);

  std::filesystem::path path_;
  std::string tmp_;
  int fd_ = -1;
  std::string buffer_;
  std::string error_;
};

/// Reads a whole file. A missing file is an error whose message says so.
Result<std::string> ReadFile(const std::filesystem::path& path);

/// Bytes [from, from + max) of the open file `fd` (pread: its offset is untouched); fewer at its end or
/// after a read error. Thread-safe.
std::string ReadAt(int fd, long long from, size_t max);

/// Creates the directory (and parents) if needed and restricts it to its owner (0700).
Status EnsurePrivateDir(const std::filesystem::path& dir);

}  // namespace coder
