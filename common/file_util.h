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

/// Reads a whole file. A missing file is an error whose message says so.
Result<std::string> ReadFile(const std::filesystem::path& path);

/// Creates the directory (and parents) if needed and restricts it to its owner (0700).
Status EnsurePrivateDir(const std::filesystem::path& dir);

}  // namespace coder
