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
#include <utility>

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
  auto writer = AtomicFileWriter::Open(path, mode);
  if (!writer) return writer.error();
  if (auto ok = writer->Write(content); !ok) return ok;
  return writer->Commit();
}

Result<AtomicFileWriter> AtomicFileWriter::Open(const std::filesystem::path& path, unsigned mode) {
  // A fresh name per call, created O_EXCL so a symlink planted at it is never followed, and two writers
  // of one path cannot truncate each other's temporary: the last rename wins, whole.
  std::string tmp;
  const int fd = CreateUniqueTemporary(path, mode, &tmp);
  if (fd < 0) return Error{fmt::format("writing {}: {}", path.string(), std::strerror(errno))};
  return AtomicFileWriter(path, std::move(tmp), fd);
}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : path_(std::move(other.path_)),
      tmp_(std::move(other.tmp_)),
      fd_(std::exchange(other.fd_, -1)),
      buffer_(std::move(other.buffer_)),
      error_(std::move(other.error_)) {}

Status AtomicFileWriter::Fail(int err) {
  if (error_.empty()) error_ = fmt::format("writing {}: {}", path_.string(), std::strerror(err));
  Abandon();
  return Error{error_};
}

Status AtomicFileWriter::Flush() {
  std::string_view left = buffer_;
  while (!left.empty()) {
    const ssize_t n = ::write(fd_, left.data(), left.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(errno);
    left.remove_prefix(static_cast<size_t>(n));
  }
  buffer_.clear();
  return Ok{};
}

Status AtomicFileWriter::Write(std::string_view text) {
  if (!error_.empty()) return Error{error_};
  if (fd_ < 0) return Error{fmt::format("writing {}: already closed", path_.string())};
  buffer_.append(text);
  return buffer_.size() >= (1u << 20) ? Flush() : Ok{};
}

Status AtomicFileWriter::Commit() {
  if (!error_.empty()) return Error{error_};
  if (fd_ < 0) return Error{fmt::format("writing {}: already closed", path_.string())};
  if (auto ok = Flush(); !ok) return ok;
  if (::fsync(fd_) != 0) return Fail(errno);
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp_.c_str());
    return Error{error_ = fmt::format("writing {}: {}", path_.string(), std::strerror(err))};
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp_.c_str());
    return Error{error_ = fmt::format("renaming {} to {}: {}", tmp_, path_.string(), std::strerror(err))};
  }
  return Ok{};
}

void AtomicFileWriter::Abandon() {
  if (fd_ < 0) return;
  ::close(std::exchange(fd_, -1));
  ::unlink(tmp_.c_str());
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

std::string ReadAt(int fd, long long from, size_t max) {
  std::string out(max, '\0');
  size_t got = 0;
  while (got < max) {
    const ssize_t n = ::pread(fd, out.data() + got, max - got, static_cast<off_t>(from) + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

}  // namespace coder
