#include "tests/e2e/foreign_servers.h"

#include <unistd.h>

namespace coder::e2e {

std::string SystemProgram(const std::string& program) {
  // Debian's own builds, not whatever a user's PATH puts first (a pyenv shim, a local nginx).
  for (const char* dir : {"/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/"}) {
    const std::string path = dir + program;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

}  // namespace coder::e2e
