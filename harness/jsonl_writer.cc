#include "harness/report.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace coder::harness {

Result<std::unique_ptr<JsonlWriter>> JsonlWriter::Open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Error{fmt::format("cannot open JSON lines file {}: {}", path.string(), std::strerror(errno))};
  return std::unique_ptr<JsonlWriter>(new JsonlWriter(path, fd));
}

JsonlWriter::~JsonlWriter() { ::close(fd_); }

Status JsonlWriter::Append(const RunRecord& record) {
  const std::string line = DumpJson(record.ToJson()) + "\n";
  std::lock_guard lock(mu_);
  std::string_view left = line;
  while (!left.empty()) {
    const ssize_t n = ::write(fd_, left.data(), left.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{fmt::format("writing JSON lines file {}: {}", path_.string(), std::strerror(errno))};
    left.remove_prefix(static_cast<size_t>(n));
  }
  return Ok{};
}

}  // namespace coder::harness
