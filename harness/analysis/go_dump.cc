#include "harness/analysis/go_dump.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <tuple>

namespace coder::harness {
namespace {

// "main.(*API).Close" -> package "main"; "github.com/x/y.(*T).M" -> "github.com/x/y". The package
// ends at the first '.' after the last '/'.
std::string_view PackageOf(std::string_view function) {
  const size_t slash = function.rfind('/', function.find('('));
  const size_t from = slash == std::string_view::npos ? 0 : slash + 1;
  const size_t dot = function.find('.', from);
  return dot == std::string_view::npos ? function : function.substr(0, dot);
}

bool IsRuntimeFrame(const GoFrame& f) {
  const std::string_view name = f.function;
  if (name.starts_with("runtime.")) return true;
  // The runtime's entry points into other packages: sync.runtime_Semacquire,
  // internal/poll.runtime_pollWait, os/signal.signal_recv.
  const std::string_view pkg = PackageOf(name);
  const std::string_view rest = name.substr(std::min(name.size(), pkg.size() + 1));
  return rest.starts_with("runtime_") || name == "os/signal.signal_recv";
}

long ParseLong(std::string_view s) {
  long v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// "goroutine 18 [semacquire, 3 minutes, locked to thread]:"
bool ParseHeader(std::string_view line, Goroutine& g) {
  if (!line.starts_with("goroutine ") || !line.ends_with("]:")) return false;
  const size_t open = line.find(" [");
  if (open == std::string_view::npos) return false;
  g.id = ParseLong(line.substr(10, open - 10));
  std::string_view inside = line.substr(open + 2, line.size() - open - 4);
  bool first = true;
  while (!inside.empty()) {
    const size_t comma = inside.find(", ");
    const std::string_view part = inside.substr(0, comma);
    if (first) {
      g.state = std::string(part);
    } else if (part == "locked to thread") {
      g.locked_to_thread = true;
    } else if (part.find(" minute") != std::string_view::npos) {
      g.wait_minutes = ParseLong(part);
    }
    first = false;
    inside = comma == std::string_view::npos ? std::string_view{} : inside.substr(comma + 2);
  }
  return true;
}

// "\t/usr/lib/go-1.19/src/runtime/proc.go:363 +0xd6 fp=..." -> file, line.
void ParseLocation(std::string_view line, GoFrame& f) {
  line.remove_prefix(1);
  const size_t space = line.find(' ');
  const std::string_view where = line.substr(0, space);
  const size_t colon = where.rfind(':');
  if (colon == std::string_view::npos) return;
  f.file = std::string(where.substr(0, colon));
  f.line = static_cast<int>(ParseLong(where.substr(colon + 1)));
}

std::string_view BaseName(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string FrameText(const GoFrame& f) {
  if (f.file.empty()) return f.function;
  return fmt::format("{} ({}:{})", f.function, BaseName(f.file), f.line);
}

std::string WaitText(const Goroutine& g) {
  const GoFrame* waiting = WaitingFrame(g);
  const GoFrame* own = OwnCodeFrame(g);
  if (waiting == nullptr) return "";
  if (own == nullptr || own == waiting) return fmt::format(" in {}", FrameText(*waiting));
  return fmt::format(" in {} from {}", waiting->function, FrameText(*own));
}

bool IsOwnCode(std::string_view function) {
  const std::string_view pkg = PackageOf(function);
  const std::string_view first_element = pkg.substr(0, pkg.find('/'));
  return pkg == "main" || first_element.find('.') != std::string_view::npos;
}

// Who started a goroutine, when that is the program's code: what holds a slot of a wait group is
// named by where it was started more often than by where it waits.
std::string CreatorText(const Goroutine& g) {
  if (g.created_by.function.empty() || !IsOwnCode(g.created_by.function)) return "";
  return fmt::format(", created by {}", FrameText(g.created_by));
}

// Which waits a reader looks at first: on a lock or a wait group, then on a channel, then the rest
// (network reads, sleeps), which a server has plenty of whether it hangs or not.
int WaitRank(const std::string& state) {
  if (state == "semacquire" || state.find("sync.") != std::string::npos) return 0;
  if (state.find("chan ") == 0 || state.find("select") == 0) return 1;
  return 2;
}

std::string StateText(const Goroutine& g) {
  if (g.wait_minutes > 0) return fmt::format("[{}, {} min]", g.state, g.wait_minutes);
  return fmt::format("[{}]", g.state);
}

}  // namespace

GoDump ParseGoDump(std::string_view text) {
  GoDump dump;
  Goroutine* current = nullptr;
  // A function line names the frame; the tab-indented line after it says where. "created by" opens
  // the creator's frame the same way.
  GoFrame* awaiting_location = nullptr;
  bool in_goroutine_zero = false;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    Goroutine header;
    if (ParseHeader(line, header)) {
      awaiting_location = nullptr;
      in_goroutine_zero = header.id == 0;
      if (in_goroutine_zero) {
        current = nullptr;
        continue;
      }
      dump.goroutines.push_back(std::move(header));
      current = &dump.goroutines.back();
      continue;
    }
    if (line.empty()) {
      current = nullptr;
      awaiting_location = nullptr;
      continue;
    }
    if (current == nullptr) {
      if (!in_goroutine_zero) ++dump.skipped_lines;
      continue;
    }
    if (line.front() == '\t') {
      if (awaiting_location != nullptr) ParseLocation(line, *awaiting_location);
      awaiting_location = nullptr;
      continue;
    }
    if (line.starts_with("created by ")) {
      std::string_view name = line.substr(11);
      // Go 1.21 appends " in goroutine N".
      if (const size_t in = name.find(" in goroutine "); in != std::string_view::npos) name = name.substr(0, in);
      current->created_by.function = std::string(name);
      awaiting_location = &current->created_by;
      continue;
    }
    if (line.starts_with("...")) continue;  // "...additional frames elided..."
    const size_t paren = line.rfind('(');
    GoFrame frame;
    frame.function = std::string(paren == std::string_view::npos || paren == 0 ? line : line.substr(0, paren));
    current->frames.push_back(std::move(frame));
    awaiting_location = &current->frames.back();
  }
  return dump;
}

bool IsRuntimeGoroutine(const Goroutine& g) {
  const std::string_view creator = g.created_by.function;
  if (creator.starts_with("runtime.") || creator.starts_with("os/signal.")) return true;
  return std::all_of(g.frames.begin(), g.frames.end(), [](const GoFrame& f) { return IsRuntimeFrame(f); });
}

const GoFrame* WaitingFrame(const Goroutine& g) {
  for (const GoFrame& f : g.frames)
    if (!IsRuntimeFrame(f)) return &f;
  return nullptr;
}

const GoFrame* OwnCodeFrame(const Goroutine& g) {
  for (const GoFrame& f : g.frames)
    if (IsOwnCode(f.function)) return &f;
  return nullptr;
}

std::string GoDumpVerdict(const GoDump& dump, size_t max_groups) {
  std::string out;
  // Groups keyed by what a reader compares: the state and where it waits, in first-seen order.
  struct Group {
    std::string state;
    std::string where;  // the waiting frame and the creator
    int rank = 0;
    size_t count = 0;
    long longest_minutes = 0;
  };
  std::vector<Group> groups;
  std::map<std::string, size_t> index;
  for (const Goroutine& g : dump.goroutines) {
    if (IsRuntimeGoroutine(g)) continue;
    if (g.id == 1) {
      out = fmt::format("main goroutine {}{}", StateText(g), WaitText(g));
      continue;
    }
    std::string where = WaitText(g) + CreatorText(g);
    const auto [it, fresh] = index.emplace(g.state + '\n' + where, groups.size());
    if (fresh) groups.push_back({g.state, std::move(where), WaitRank(g.state), 0, 0});
    Group& group = groups[it->second];
    ++group.count;
    group.longest_minutes = std::max(group.longest_minutes, g.wait_minutes);
  }
  std::stable_sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) {
    return a.rank != b.rank ? a.rank < b.rank : a.count > b.count;
  });
  size_t shown = 0;
  size_t rest = 0;
  for (const Group& group : groups) {
    const size_t count = group.count;
    if (shown == max_groups) {
      rest += count;
      continue;
    }
    if (!out.empty()) out += "; ";
    // The longest wait of the group: how long the oldest of them has been stuck.
    const std::string waited = group.longest_minutes == 0 ? ""
                               : count == 1               ? fmt::format(", {} min", group.longest_minutes)
                                                          : fmt::format(", up to {} min", group.longest_minutes);
    out += fmt::format("{} goroutine{} [{}{}]{}", count, count == 1 ? "" : "s", group.state, waited, group.where);
    ++shown;
  }
  if (rest > 0) out += fmt::format("; {} more goroutine{}", rest, rest == 1 ? "" : "s");
  return out;
}

}  // namespace coder::harness
