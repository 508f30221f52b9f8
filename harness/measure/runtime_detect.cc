#include "harness/measure/runtime_detect.h"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <vector>

#include "harness/process/proc_fs.h"

namespace coder::harness {
namespace {

constexpr std::string_view kGoBuildInfoMagic = "\xff Go buildinf:";

/// Closes the descriptor it holds.
struct FileCloser {
  int fd;
  ~FileCloser() {
    if (fd >= 0) ::close(fd);
  }
};

bool ReadAt(int fd, void* out, size_t size, off_t at) {
  auto* p = static_cast<char*>(out);
  while (size > 0) {
    const ssize_t n = ::pread(fd, p, size, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
    at += n;
  }
  return true;
}

// Section names of a 64-bit little-endian ELF, from its header table; empty when it has none.
bool HasSection(int fd, const Elf64_Ehdr& eh, std::string_view wanted) {
  if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 || eh.e_shnum > 4096 || eh.e_shstrndx >= eh.e_shnum)
    return false;
  std::vector<Elf64_Shdr> sections(eh.e_shnum);
  if (!ReadAt(fd, sections.data(), sections.size() * sizeof(Elf64_Shdr), static_cast<off_t>(eh.e_shoff))) return false;
  const Elf64_Shdr& names = sections[eh.e_shstrndx];
  if (names.sh_size == 0 || names.sh_size > (1 << 20)) return false;
  std::string table(names.sh_size, '\0');
  if (!ReadAt(fd, table.data(), table.size(), static_cast<off_t>(names.sh_offset))) return false;
  for (const Elf64_Shdr& s : sections) {
    if (s.sh_name >= table.size()) continue;
    if (std::string_view(table.c_str() + s.sh_name) == wanted) return true;
  }
  return false;
}

bool HasMagicInHead(int fd) {
  constexpr size_t kChunk = 1 << 20;
  constexpr off_t kLimit = 64 << 20;
  std::string buf(kChunk + kGoBuildInfoMagic.size(), '\0');
  size_t carried = 0;
  for (off_t at = 0; at < kLimit;) {
    const ssize_t n = ::pread(fd, buf.data() + carried, kChunk, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    const std::string_view seen(buf.data(), carried + static_cast<size_t>(n));
    if (seen.find(kGoBuildInfoMagic) != std::string_view::npos) return true;
    carried = std::min(seen.size(), kGoBuildInfoMagic.size() - 1);
    std::memmove(buf.data(), seen.data() + seen.size() - carried, carried);
    at += n;
  }
  return false;
}

std::string_view BaseName(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string_view ToString(Runtime runtime) {
  switch (runtime) {
    case Runtime::kNative: return "native";
    case Runtime::kGo: return "go";
    case Runtime::kJvm: return "jvm";
    case Runtime::kPython: return "python";
    case Runtime::kNode: return "node";
  }
  return "native";
}

std::optional<Runtime> RuntimeFromString(std::string_view text) {
  for (Runtime r : {Runtime::kNative, Runtime::kGo, Runtime::kJvm, Runtime::kPython, Runtime::kNode})
    if (ToString(r) == text) return r;
  return std::nullopt;
}

bool IsGoExecutable(const std::string& path) {
  const FileCloser file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) return false;
  Elf64_Ehdr eh{};
  if (!ReadAt(file.fd, &eh, sizeof eh, 0)) return false;
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64) return false;
  if (eh.e_shnum != 0) return HasSection(file.fd, eh, ".go.buildinfo");
  return HasMagicInHead(file.fd);
}

Runtime RuntimeFromMaps(std::string_view maps, std::string_view exe_name) {
  if (exe_name.starts_with("node")) return Runtime::kNode;
  if (exe_name.starts_with("python") || exe_name.starts_with("pypy")) return Runtime::kPython;
  bool python = false;
  bool node = false;
  while (!maps.empty()) {
    const size_t nl = maps.find('\n');
    const std::string_view line = maps.substr(0, nl);
    maps = nl == std::string_view::npos ? std::string_view{} : maps.substr(nl + 1);
    const size_t slash = line.find('/');
    if (slash == std::string_view::npos) continue;
    const std::string_view file = BaseName(line.substr(slash));
    // The JVM first: a Java service may load a libpython or a libnode of its own through JNI.
    if (file.starts_with("libjvm.so")) return Runtime::kJvm;
    python = python || file.starts_with("libpython");
    node = node || file.starts_with("libnode.so");
  }
  if (node) return Runtime::kNode;
  if (python) return Runtime::kPython;
  return Runtime::kNative;
}

Runtime DetectRuntime(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  // Through /proc/PID/exe, not its name: the file the process runs, even when its path was replaced.
  if (IsGoExecutable(proc + "/exe")) return Runtime::kGo;
  const std::string exe = ReadLink(proc + "/exe");
  std::string_view name = BaseName(exe);
  if (const size_t deleted = name.find(" (deleted)"); deleted != std::string_view::npos) name = name.substr(0, deleted);
  const auto maps = ReadSmallFile(proc + "/maps");
  return RuntimeFromMaps(maps ? *maps : std::string(), name);
}

}  // namespace coder::harness
