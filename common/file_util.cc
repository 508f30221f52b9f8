#include "common/file_util.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

namespace coder {

namespace {

/// Creates `path` + ".tmp-" + 12 random hex digits with O_EXCL, retrying on a name already taken. The
/// file gets `mode` narrowed by the umask, as open(2) gives any file.
int CreateUniqueTemporary(const std::filesystem::path& path, unsigned mode, std::string* name) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    uint8_t bytes[6];
    if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) return -1;
    *name = fmt::format("{}.tmp-{:02x}", path.string(), fmt::join(bytes, ""));
    const int fd = ::open(name->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  return -1;
}

}  // namespace

Status WriteFileAtomically(const std::filesystem::path& path, std::string_view content, unsigned mode) {
  // A fresh name per call, created O_EXCL so a symlink planted at it is never followed, and two writers
  // of one path cannot truncate each other's temporary: the last rename wins, whole.
  std::string tmp;
  const int fd = CreateUniqueTemporary(path, mode, &tmp);
  if (fd < 0) {
    const int err = errno;
    return Error{fmt::format("writing {}: {}", path.string(), std::strerror(err))};
  }
  auto fail = [&]() -> Status {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return Error{fmt::format("writing {}: {}", path.string(), std::strerror(err))};
  };
  std::string_view left = content;
  while (!left.empty()) {
    const ssize_t n = ::write(fd, left.data(), left.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail();
    left.remove_prefix(static_cast<size_t>(n));
  }
  if (::fsync(fd) != 0) return fail();
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Error{fmt::format("writing {}: {}", path.string(), std::strerror(err))};
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Error{fmt::format("renaming {} to {}: {}", tmp, path.string(), std::strerror(err))};
  }
  return Ok{};
}

Result<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{fmt::format("reading {}: {}", path.string(), std::strerror(errno))};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Status EnsurePrivateDir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error{fmt::format("creating config dir {}: {}", dir.string(), ec.message())};
  if (::chmod(dir.c_str(), 0700) != 0)
    return Error{fmt::format("restricting config dir {}: {}", dir.string(), std::strerror(errno))};
  return Ok{};
}

}  // namespace coder
