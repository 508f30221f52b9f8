#pragma once

#include <filesystem>
#include <string_view>

#include "common/result.h"

namespace coder::test_support {

/// A fresh directory of the test's own, `PARENT/coder-PREFIX-XXXXXX` made by mkdtemp (mode 0700, a name
/// nobody else holds), removed with everything in it when this goes away or at Remove(). PARENT is the
/// system's temporary directory ($TMPDIR, else /tmp) unless given. Movable; a moved-from TempDir owns
/// nothing.
class TempDir {
 public:
  /// Throws std::runtime_error naming the path and the cause when the directory cannot be made, which
  /// fails the calling test.
  explicit TempDir(std::string_view prefix = "test", const std::filesystem::path& parent = {});
  /// The same without the throw, for the programs that are not tests (benchmarks, soak, load driver).
  static Result<TempDir> Create(std::string_view prefix = "test", const std::filesystem::path& parent = {});

  ~TempDir();
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// Where it is (or was, after Remove()); empty for a moved-from TempDir.
  const std::filesystem::path& path() const { return path_; }

  /// Removes the directory and everything in it now, directories a test made unreadable or read-only
  /// included (each gets its owner's rwx back first; symbolic links are never followed). Idempotent,
  /// never throws: what cannot be removed (a mount point still mounted) is left.
  void Remove() noexcept;

 private:
  struct Unmade {};
  explicit TempDir(Unmade) {}

  std::filesystem::path path_;
  bool removed_ = false;
};

}  // namespace coder::test_support
