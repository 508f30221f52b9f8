#include "harness/report/report.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <re2/re2.h>

namespace coder::harness {

bool IsOwnDescriptorPath(const std::filesystem::path& path) {
  static const RE2 kOwn(R"(/dev/(stdout|stderr|fd/[0-9]+)|/proc/(self|thread-self)/fd/[0-9]+)");
  return RE2::FullMatch(path.string(), kOwn);
}

Result<std::unique_ptr<JsonlWriter>> JsonlWriter::Open(const std::filesystem::path& path) {
  // Non-blocking so that a FIFO nobody reads fails (ENXIO) instead of hanging the harness before its runs.
  // O_NOFOLLOW: a link planted at the path must not make a root run truncate what it points at.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW, 0644);
  if (fd < 0 && errno == ELOOP && IsOwnDescriptorPath(path)) {
    // The harness's own stdout or stderr: appended to as it is, never created or truncated.
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NONBLOCK);
  } else if (fd < 0 && errno == ELOOP) {
    return Error{
        fmt::format("cannot open JSON lines file {}: it is a symbolic link, which the harness never "
                    "writes through (give the file itself)",
                    path.string())};
  }
  if (fd < 0) {
    const int err = errno;
    return Error{fmt::format("cannot open JSON lines file {}: {}{}", path.string(), std::strerror(err),
                             err == ENXIO ? " (a FIFO with no reader)" : "")};
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  struct stat st {};
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  return std::unique_ptr<JsonlWriter>(new JsonlWriter(path, fd, regular));
}

JsonlWriter::~JsonlWriter() { ::close(fd_); }

Status JsonlWriter::Append(const RunRecord& record) {
  const std::string line = DumpJson(record.ToJson()) + "\n";
  std::lock_guard lock(mu_);
  std::string_view left = line;
  while (!left.empty()) {
    const ssize_t n = ::write(fd_, left.data(), left.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      // Cut a torn line off (a disk that filled up mid-line), so the lines before it and any written
      // once space is back stay whole.
      const size_t written = line.size() - left.size();
      struct stat st {};
      const bool left_torn = written > 0 && (!regular_ || ::fstat(fd_, &st) != 0 ||
                                             ::ftruncate(fd_, st.st_size - static_cast<off_t>(written)) != 0);
      return Error{fmt::format("writing JSON lines file {}: {}{}", path_.string(), std::strerror(err),
                               left_torn ? " (a partial line is left)" : "")};
    }
    left.remove_prefix(static_cast<size_t>(n));
  }
  return Ok{};
}

}  // namespace coder::harness
