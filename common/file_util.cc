#include "common/file_util.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace coder {

Status WriteFileAtomically(const std::filesystem::path& path, std::string_view content, unsigned mode) {
  const std::string tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Error{fmt::format("writing {}: {}", tmp, std::strerror(errno))};
  // An existing file keeps its mode on O_CREAT; the contract is the requested mode.
  ::fchmod(fd, mode);
  std::string_view left = content;
  while (!left.empty()) {
    const ssize_t n = ::write(fd, left.data(), left.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return Error{fmt::format("writing {}: {}", tmp, std::strerror(err))};
    }
    left.remove_prefix(static_cast<size_t>(n));
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Error{fmt::format("writing {}: {}", tmp, std::strerror(err))};
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
