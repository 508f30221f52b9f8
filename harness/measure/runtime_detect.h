#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace coder::harness {

/// The language runtime a process runs, which says how to ask it where it waits.
enum class Runtime {
  kNative,  ///< none recognised: its threads' native stacks are all there is
  kGo,      ///< a Go binary (its ELF has Go's build info)
  kJvm,     ///< libjvm.so is mapped
  kPython,  ///< a CPython interpreter (the executable or a mapped libpython)
  kNode,    ///< Node.js (the executable or a mapped libnode)
};
/// "native", "go", "jvm", "python", "node".
std::string_view ToString(Runtime runtime);
std::optional<Runtime> RuntimeFromString(std::string_view text);

/// Whether the ELF file `path` is a Go program: it has a ".go.buildinfo" section, or (when its section
/// headers are gone) Go's build-info magic in its first 64 MiB. Reads the headers, never the whole
/// file unless it must. False for anything unreadable or not ELF. Thread-safe.
bool IsGoExecutable(const std::string& path);

/// The runtime of `pid`, from its executable (/proc/PID/exe) and its mappings (/proc/PID/maps), with
/// nothing attached and nothing sent. kNative when nothing is recognised or the process is gone.
/// Thread-safe.
Runtime DetectRuntime(pid_t pid);

/// DetectRuntime's rules for the mappings and the executable's name alone, for tests: `maps` is the
/// text of /proc/PID/maps and `exe_name` the executable's file name. Go is the ELF's to say, not
/// these. Pure.
Runtime RuntimeFromMaps(std::string_view maps, std::string_view exe_name);

}  // namespace coder::harness
