#include "tests/support/temp_dir.h"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace coder::test_support {
namespace {

namespace fs = std::filesystem;

// A test may leave a directory without its owner's write or search bit (to test a refused write);
// remove_all cannot then empty it. Parents are opened up before their entries are listed.
void RestoreOwnerAccess(const fs::path& dir) noexcept {
  std::error_code ec;
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add, ec);
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code status_ec;
    if (it->symlink_status(status_ec).type() == fs::file_type::directory) RestoreOwnerAccess(it->path());
  }
}

}  // namespace

Result<TempDir> TempDir::Create(std::string_view prefix, const fs::path& parent) {
  std::error_code ec;
  const fs::path base = parent.empty() ? fs::temp_directory_path(ec) : parent;
  if (ec) return Error{"no temporary directory: " + ec.message()};
  const std::string pattern = (base / ("coder-" + std::string(prefix) + "-XXXXXX")).string();
  std::string tmpl = pattern;  // mkdtemp rewrites it, also when it fails
  if (::mkdtemp(tmpl.data()) == nullptr) return Error{"mkdtemp " + pattern + ": " + std::strerror(errno)};
  TempDir dir{Unmade{}};
  dir.path_ = std::move(tmpl);
  return Result<TempDir>(std::move(dir));
}

TempDir::TempDir(std::string_view prefix, const fs::path& parent) {
  auto made = Create(prefix, parent);
  if (!made) throw std::runtime_error(made.error().message);
  path_ = std::exchange(made->path_, {});
}

TempDir::~TempDir() { Remove(); }

TempDir::TempDir(TempDir&& other) noexcept
    : path_(std::exchange(other.path_, {})), removed_(std::exchange(other.removed_, false)) {}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::exchange(other.path_, {});
    removed_ = std::exchange(other.removed_, false);
  }
  return *this;
}

void TempDir::Remove() noexcept {
  if (path_.empty() || removed_) return;
  removed_ = true;
  RestoreOwnerAccess(path_);
  std::error_code ec;
  fs::remove_all(path_, ec);
}

}  // namespace coder::test_support
