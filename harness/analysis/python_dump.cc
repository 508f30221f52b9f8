#include "harness/analysis/python_dump.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <utility>

namespace coder::harness {
namespace {

constexpr std::string_view kHeader = "# coder-dump python ";

uint64_t ParseHex(std::string_view s) {
  if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2);
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v, 16);
  return v;
}

// "main-thread=0x7f... stdlib=/usr/lib/python3.11" (the stdlib may hold spaces: it is the last field).
void ParseHeader(std::string_view line, uint64_t& main_thread, std::string& stdlib) {
  line.remove_prefix(kHeader.size());
  if (const size_t at = line.find("main-thread="); at != std::string_view::npos)
    main_thread = ParseHex(line.substr(at + 12, line.find(' ', at) - (at + 12)));
  if (const size_t at = line.find("stdlib="); at != std::string_view::npos) stdlib = std::string(line.substr(at + 7));
}

// "Thread 0x00007f031bc626c0 (most recent call first):" or "Current thread 0x... (most recent call first):"
bool ParseThreadLine(std::string_view line, PythonThread& t) {
  t.current = line.starts_with("Current thread 0x");
  if (!t.current && !line.starts_with("Thread 0x")) return false;
  const size_t at = line.find("0x");
  t.id = ParseHex(line.substr(at, line.find(' ', at) - at));
  return true;
}

// `  File "/srv/app.py", line 30 in stop`
bool ParseFrameLine(std::string_view line, PythonFrame& f) {
  if (!line.starts_with("  File \"")) return false;
  line.remove_prefix(8);
  const size_t quote = line.rfind("\", line ");
  if (quote == std::string_view::npos) return false;
  f.file = std::string(line.substr(0, quote));
  std::string_view rest = line.substr(quote + 8);
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), f.line);
  if (ec != std::errc{}) return false;
  rest = rest.substr(static_cast<size_t>(end - rest.data()));
  if (rest.starts_with(" in ")) f.function = std::string(rest.substr(4));
  return true;
}

std::string_view BaseName(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// "threading.join" for a frame of /usr/lib/python3.11/threading.py; "http.server.handle" for a package's.
std::string ModuleFunction(const PythonFrame& f, std::string_view stdlib) {
  std::string_view path = f.file;
  if (path.starts_with("<frozen ")) return fmt::format("{}.{}", path.substr(8, path.size() - 9), f.function);
  if (!stdlib.empty() && path.starts_with(stdlib) && path.size() > stdlib.size() + 1) {
    path.remove_prefix(stdlib.size() + 1);
  } else {
    path = BaseName(path);
  }
  if (path.ends_with(".py")) path.remove_suffix(3);
  if (path.ends_with("/__init__")) path.remove_suffix(9);
  std::string module(path);
  std::replace(module.begin(), module.end(), '/', '.');
  return fmt::format("{}.{}", module, f.function);
}

std::string FrameText(const PythonFrame& f) { return fmt::format("{} ({}:{})", f.function, BaseName(f.file), f.line); }

bool IsThreadBootstrap(const PythonFrame& f, std::string_view stdlib) {
  return IsStandardLibraryFrame(f, stdlib) && BaseName(f.file) == "threading.py" &&
         (f.function == "_bootstrap" || f.function == "_bootstrap_inner" || f.function == "run");
}

// Where a thread is: "threading.join from stop (app.py:30)" (the standard library's call the program's
// innermost frame is in), "worker (app.py:12)" (the program's own frame is the innermost), or, for a
// thread that runs no code of the program, the standard library's outermost frame it was started with.
std::string Where(const PythonThread& t, std::string_view stdlib) {
  const auto& frames = t.frames;
  for (size_t i = 0; i < frames.size(); ++i) {
    if (IsStandardLibraryFrame(frames[i], stdlib)) continue;
    if (i == 0) return FrameText(frames[i]);
    return fmt::format("{} from {}", ModuleFunction(frames[i - 1], stdlib), FrameText(frames[i]));
  }
  for (size_t i = frames.size(); i-- > 0;)
    if (!IsThreadBootstrap(frames[i], stdlib)) return FrameText(frames[i]);
  return frames.empty() ? "" : FrameText(frames.front());
}

}  // namespace

bool IsStandardLibraryFrame(const PythonFrame& frame, std::string_view stdlib) {
  const std::string_view file = frame.file;
  if (file.starts_with("<frozen ")) return true;
  if (file.find("/site-packages/") != std::string_view::npos || file.find("/dist-packages/") != std::string_view::npos)
    return false;
  if (!stdlib.empty()) return file.starts_with(stdlib) && file.size() > stdlib.size() && file[stdlib.size()] == '/';
  return file.find("/lib/python3") != std::string_view::npos;
}

PythonDump ParsePythonDump(std::string_view text) {
  PythonDump dump;
  uint64_t main_thread = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.starts_with(kHeader)) {
      dump.threads.clear();
      ParseHeader(line, main_thread, dump.stdlib);
      continue;
    }
    PythonThread thread;
    if (ParseThreadLine(line, thread)) {
      // Each signal appends a whole dump and a dump names each thread once: a thread seen again starts
      // the next dump, and the last is what the process was doing when asked.
      if (std::any_of(dump.threads.begin(), dump.threads.end(), [&](const auto& t) { return t.id == thread.id; }))
        dump.threads.clear();
      thread.main = main_thread != 0 && thread.id == main_thread;
      dump.threads.push_back(std::move(thread));
      continue;
    }
    PythonFrame frame;
    if (!dump.threads.empty() && ParseFrameLine(line, frame)) dump.threads.back().frames.push_back(std::move(frame));
  }
  return dump;
}

std::string PythonDumpVerdict(const PythonDump& dump, size_t max_groups) {
  std::vector<std::string> parts;
  const PythonThread* main = nullptr;
  for (const PythonThread& t : dump.threads)
    if (t.main) main = &t;
  if (main != nullptr)
    parts.push_back(main->frames.empty() ? "main thread without a Python frame"
                                         : "main thread in " + Where(*main, dump.stdlib));
  std::vector<std::pair<std::string, size_t>> groups;
  size_t frameless = 0;
  for (const PythonThread& t : dump.threads) {
    if (&t == main) continue;
    if (t.frames.empty()) {
      ++frameless;
      continue;
    }
    const std::string where = Where(t, dump.stdlib);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == where; });
    if (it == groups.end()) {
      groups.emplace_back(where, 1);
    } else {
      ++it->second;
    }
  }
  std::stable_sort(groups.begin(), groups.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  const char* other = main != nullptr ? "other " : "";
  for (size_t i = 0; i < groups.size() && i < max_groups; ++i)
    parts.push_back(fmt::format("{} {}{} in {}", groups[i].second, other, groups[i].second == 1 ? "thread" : "threads",
                                groups[i].first));
  if (groups.size() > max_groups) {
    size_t rest = 0;
    for (size_t i = max_groups; i < groups.size(); ++i) rest += groups[i].second;
    parts.push_back(fmt::format("{} more {}", rest, rest == 1 ? "thread" : "threads"));
  }
  if (frameless > 0)
    parts.push_back(
        fmt::format("{} {}{} without a Python frame", frameless, other, frameless == 1 ? "thread" : "threads"));
  if (groups.empty() && (main == nullptr || main->frames.empty())) return "";
  return fmt::format("{}", fmt::join(parts, "; "));
}

}  // namespace coder::harness
