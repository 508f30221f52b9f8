#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace coder::server {

/// The server's config directory, trusted the way ssh's StrictModes trusts ~/.ssh: it is created 0700
/// when missing; an existing one must be a real directory (not a symlink), owned by the effective uid,
/// and writable by nobody else, or Open refuses it with an error that says why. Nothing here ever chmods
/// an existing directory. Every entry is reached relative to the directory's descriptor and never
/// through a symlink, so what was checked is what is used. Move-only; const members are thread-safe.
class ConfigDir {
 public:
  static Result<ConfigDir> Open(const std::filesystem::path& path);
  ~ConfigDir();
  ConfigDir(ConfigDir&& other) noexcept;
  ConfigDir& operator=(ConfigDir&&) = delete;
  ConfigDir(const ConfigDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path PathOf(std::string_view name) const { return path_ / name; }

  /// What is at `name` (lstat, no symlink followed): nullopt when nothing is. An entry that is not a
  /// regular file owned by us, or that is a symlink, is an error naming what it is.
  Result<std::optional<struct stat>> CheckRegular(std::string_view name) const;

  /// Reads `name` if it is a regular file owned by us of at most `max_bytes`: opened O_NOFOLLOW|O_NONBLOCK
  /// (a FIFO or a device neither blocks nor streams forever), then fstat'ed. nullopt when absent; `st`
  /// receives the file's stat when given.
  Result<std::optional<std::string>> ReadRegular(std::string_view name, size_t max_bytes,
                                                 struct stat* st = nullptr) const;

  /// A uniquely named temporary in the directory (O_EXCL|O_NOFOLLOW, `mode`), fsync, renameat over
  /// `name` (which replaces a symlink there, never its target), fsync of the directory.
  Status WriteAtomically(std::string_view name, std::string_view content, mode_t mode) const;

  /// Creates `name` empty with `mode` if nothing is there (O_EXCL|O_NOFOLLOW). Ok when it exists.
  Status CreateIfMissing(std::string_view name, mode_t mode) const;

  /// unlinkat: removes a symlink itself, never its target. Absent is fine.
  void Remove(std::string_view name) const;

  /// Renames `name` to `name.corrupt-<time>-<random>` (never over an existing entry) and returns the
  /// new name. Works on any kind of entry (a FIFO, a symlink) without opening it.
  Result<std::string> Quarantine(std::string_view name) const;

 private:
  ConfigDir(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace coder::server
