#include "server/config_dir.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "server/random.h"

namespace coder::server {
namespace {

std::string Errno() { return std::strerror(errno); }

std::string KindOf(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

Status WriteAll(int fd, std::string_view content) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error{Errno()};
    }
    content.remove_prefix(static_cast<size_t>(n));
  }
  return Ok{};
}

}  // namespace

Result<ConfigDir> ConfigDir::Open(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return Error{fmt::format("config dir {}: {}", path.string(), Errno())};
    std::error_code ec;
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) return Error{fmt::format("creating config dir {}: {}", path.string(), ec.message())};
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
      return Error{fmt::format("creating config dir {}: {}", path.string(), Errno())};
  }
  // O_NOFOLLOW on the last component: a config dir that is a symlink is refused, as ssh refuses one.
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP || errno == ENOTDIR) {
      struct stat l {};
      const std::string kind = ::lstat(path.c_str(), &l) == 0 ? KindOf(l.st_mode) : "not a directory";
      return Error{
          fmt::format("config dir {} is {}; refusing it (give a real directory owned by you)", path.string(), kind)};
    }
    return Error{fmt::format("opening config dir {}: {}", path.string(), Errno())};
  }
  ConfigDir dir(path, fd);
  if (::fstat(fd, &st) != 0) return Error{fmt::format("config dir {}: {}", path.string(), Errno())};
  if (st.st_uid != ::geteuid())
    return Error{
        fmt::format("config dir {} is owned by uid {}, not by uid {} running the server; refusing "
                    "to trust it (its session token and state could be another user's)",
                    path.string(), st.st_uid, ::geteuid())};
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return Error{
        fmt::format("config dir {} has mode {:04o}, writable by group or others; refusing it, as ssh "
                    "refuses such a directory (chmod go-w it, or give a private directory)",
                    path.string(), st.st_mode & 07777)};
  return dir;
}

ConfigDir::~ConfigDir() {
  if (fd_ >= 0) ::close(fd_);
}

ConfigDir::ConfigDir(ConfigDir&& other) noexcept : path_(std::move(other.path_)), fd_(other.fd_) { other.fd_ = -1; }

Result<std::optional<struct stat>> ConfigDir::CheckRegular(std::string_view name) const {
  struct stat st {};
  const std::string n(name);
  if (::fstatat(fd_, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return std::optional<struct stat>();
    return Error{fmt::format("{}: {}", PathOf(name).string(), Errno())};
  }
  if (!S_ISREG(st.st_mode))
    return Error{fmt::format("{} is {}; refusing to use it", PathOf(name).string(), KindOf(st.st_mode))};
  if (st.st_uid != ::geteuid())
    return Error{fmt::format("{} is owned by uid {}, not by uid {}; refusing to use it", PathOf(name).string(),
                             st.st_uid, ::geteuid())};
  return std::optional<struct stat>(st);
}

Result<std::optional<std::string>> ConfigDir::ReadRegular(std::string_view name, size_t max_bytes,
                                                          struct stat* out) const {
  const std::string n(name);
  const int fd = ::openat(fd_, n.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    if (errno == ELOOP)
      return Error{fmt::format("{} is a symbolic link; refusing to follow it", PathOf(name).string())};
    return Error{fmt::format("reading {}: {}", PathOf(name).string(), Errno())};
  }
  struct stat st {};
  std::string text;
  auto fail = [&](std::string message) -> Result<std::optional<std::string>> {
    ::close(fd);
    return Error{std::move(message)};
  };
  if (::fstat(fd, &st) != 0) return fail(fmt::format("reading {}: {}", PathOf(name).string(), Errno()));
  if (!S_ISREG(st.st_mode))
    return fail(fmt::format("{} is {}; refusing to read it", PathOf(name).string(), KindOf(st.st_mode)));
  if (st.st_uid != ::geteuid())
    return fail(fmt::format("{} is owned by uid {}, not by uid {}; refusing to use it", PathOf(name).string(),
                            st.st_uid, ::geteuid()));
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    return fail(fmt::format("{} is {} bytes, over the {} byte limit", PathOf(name).string(), st.st_size, max_bytes));
  // Bounded even if the file grows while being read.
  char buf[65536];
  for (;;) {
    const ssize_t got = ::read(fd, buf, sizeof buf);
    if (got < 0) {
      if (errno == EINTR) continue;
      return fail(fmt::format("reading {}: {}", PathOf(name).string(), Errno()));
    }
    if (got == 0) break;
    text.append(buf, static_cast<size_t>(got));
    if (text.size() > max_bytes)
      return fail(fmt::format("{} grew over the {} byte limit while read", PathOf(name).string(), max_bytes));
  }
  ::close(fd);
  if (out) *out = st;
  return std::optional<std::string>(std::move(text));
}

Status ConfigDir::WriteAtomically(std::string_view name, std::string_view content, mode_t mode) const {
  const std::string target(name);
  const std::string tmp = fmt::format("{}.tmp-{}", target, RandomHex(6));
  const int fd = ::openat(fd_, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return Error{fmt::format("writing {}: {}", PathOf(name).string(), Errno())};
  Status written = WriteAll(fd, content);
  if (written && ::fsync(fd) != 0) written = Error{Errno()};
  ::close(fd);
  if (written && ::renameat(fd_, tmp.c_str(), fd_, target.c_str()) != 0) written = Error{Errno()};
  if (!written) {
    ::unlinkat(fd_, tmp.c_str(), 0);
    return Error{fmt::format("writing {}: {}", PathOf(name).string(), written.error().message)};
  }
  ::fsync(fd_);
  return Ok{};
}

Status ConfigDir::CreateIfMissing(std::string_view name, mode_t mode) const {
  const std::string n(name);
  const int fd = ::openat(fd_, n.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd >= 0) {
    ::close(fd);
    return Ok{};
  }
  if (errno == EEXIST) return Ok{};
  return Error{fmt::format("creating {}: {}", PathOf(name).string(), Errno())};
}

void ConfigDir::Remove(std::string_view name) const {
  const std::string n(name);
  ::unlinkat(fd_, n.c_str(), 0);
}

Result<std::string> ConfigDir::Quarantine(std::string_view name) const {
  const std::string from(name);
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  for (int attempt = 0; attempt < 16; ++attempt) {
    const std::string to = fmt::format("{}.corrupt-{}-{}", from, stamp, RandomHex(4));
    if (::renameat2(fd_, from.c_str(), fd_, to.c_str(), RENAME_NOREPLACE) == 0) return to;
    if (errno != EEXIST) return Error{fmt::format("moving {} aside: {}", PathOf(name).string(), Errno())};
  }
  return Error{fmt::format("moving {} aside: no free name", PathOf(name).string())};
}

}  // namespace coder::server
