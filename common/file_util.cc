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
  // A fresh name per call (O_EXCL, never a symlink someone planted in a shared directory), so two
  // writers of one path cannot truncate each other's temporary: the last rename wins, whole.
  std::string tmp = path.string() + ".tmp-XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Error{fmt::format("writing {}: {}", path.string(), std::strerror(err))};
  }
  auto fail = [&](const char* what) -> Status {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return Error{fmt::format("{} {}: {}", what, path.string(), std::strerror(err))};
  };
  // mkostemp creates 0600; the contract is the requested mode, whatever the umask.
  if (::fchmod(fd, mode) != 0) return fail("writing");
  std::string_view left = content;
  while (!left.empty()) {
    const ssize_t n = ::write(fd, left.data(), left.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("writing");
    left.remove_prefix(static_cast<size_t>(n));
  }
  if (::fsync(fd) != 0) return fail("writing");
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
