#include "harness/analysis/jvm_dump.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <utility>

namespace coder::harness {
namespace {

// `"rpc" #12 prio=5 ...` or `"GC Thread#0" os_prio=0 ...`: the name ends at the last quote before the
// first field (names may hold quotes and spaces).
bool ParseHeader(std::string_view line, JvmThread& t) {
  if (!line.starts_with('"')) return false;
  size_t end = std::string_view::npos;
  for (std::string_view field : {"\" #", "\" daemon", "\" prio=", "\" os_prio="})
    if (const size_t at = line.find(field, 1); at != std::string_view::npos) end = std::min(end, at);
  if (end == std::string_view::npos) return false;
  t.name = std::string(line.substr(1, end - 1));
  t.java = line.substr(end).starts_with("\" #");
  return true;
}

// "\tat Server.stop(Server.java:16)", "\tat sun.nio.ch.Net.accept(java.base@17.0.15/Native Method)"
bool ParseFrame(std::string_view line, JvmFrame& f) {
  if (!line.starts_with("\tat ")) return false;
  line.remove_prefix(4);
  const size_t open = line.rfind('(');
  if (open == std::string_view::npos || !line.ends_with(')')) return false;
  f.function = std::string(line.substr(0, open));
  std::string_view where = line.substr(open + 1, line.size() - open - 2);
  if (const size_t slash = where.find('/'); slash != std::string_view::npos) where.remove_prefix(slash + 1);
  if (const size_t colon = where.rfind(':'); colon != std::string_view::npos) {
    const std::string_view num = where.substr(colon + 1);
    if (std::from_chars(num.data(), num.data() + num.size(), f.line).ec == std::errc{}) {
      f.file = std::string(where.substr(0, colon));
      return true;
    }
  }
  f.line = 0;
  return true;
}

// "<0x000000069eb9a7c8> (a java.lang.Object)" from the rest of a lock line.
std::string_view LockOf(std::string_view rest) {
  const size_t lt = rest.find('<');
  return lt == std::string_view::npos ? std::string_view() : rest.substr(lt);
}

std::string_view Address(std::string_view lock) { return lock.substr(0, lock.find('>') + 1); }

std::string FrameText(const JvmFrame& f) {
  if (f.file.empty()) return f.function;
  return fmt::format("{} ({}:{})", f.function, f.file, f.line);
}

bool IsShutdownThread(const JvmThread& t) {
  return std::any_of(t.frames.begin(), t.frames.end(), [](const JvmFrame& f) {
    return f.function == "java.lang.Shutdown.runHooks" || f.function == "java.lang.ApplicationShutdownHooks.runHooks";
  });
}

// The platform's call the program's innermost frame is in, "from" that frame: "java.util.concurrent.
// CountDownLatch.await from Server.serveRpc (Server.java:10)"; "" when the thread runs none of the
// program's code.
std::string Where(const JvmThread& t) {
  for (size_t i = 0; i < t.frames.size(); ++i) {
    if (IsPlatformFrame(t.frames[i])) continue;
    if (i == 0) return FrameText(t.frames[i]);
    return fmt::format("{} from {}", t.frames[i - 1].function, FrameText(t.frames[i]));
  }
  return "";
}

int Rank(const std::string& state) {
  if (state == "BLOCKED") return 0;
  if (state == "WAITING" || state == "TIMED_WAITING") return 1;
  return 2;
}

struct Group {
  std::string state;
  std::string where;
  std::string lock;  // " waiting to lock <...> (a ...) held by "rpc""
  std::vector<std::string> names;
};

}  // namespace

bool IsPlatformFrame(const JvmFrame& frame) {
  for (std::string_view prefix : {"java.", "javax.", "jdk.", "sun.", "com.sun."})
    if (std::string_view(frame.function).starts_with(prefix)) return true;
  return false;
}

JvmDump ParseJvmDump(std::string_view text) {
  JvmDump dump;
  bool in_synchronizers = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.starts_with("Found one Java-level deadlock") ||
        (line.starts_with("Found ") && line.ends_with(" deadlocks.")))
      dump.deadlock = true;
    JvmThread thread;
    if (ParseHeader(line, thread)) {
      dump.threads.push_back(std::move(thread));
      in_synchronizers = false;
      continue;
    }
    // A deadlock report repeats thread names and frames after the last thread: they are not threads.
    if (line.starts_with("Found ") || line.starts_with("JNI global refs")) {
      in_synchronizers = false;
      if (!dump.threads.empty() && line.starts_with("Found ")) break;
      continue;
    }
    if (dump.threads.empty()) continue;
    JvmThread& t = dump.threads.back();
    if (line.starts_with("   java.lang.Thread.State: ")) {
      std::string_view state = line.substr(27);
      t.state = std::string(state.substr(0, state.find(' ')));
      continue;
    }
    if (line.starts_with("   Locked ownable synchronizers:")) {
      in_synchronizers = true;
      continue;
    }
    JvmFrame frame;
    if (ParseFrame(line, frame)) {
      t.frames.push_back(std::move(frame));
      continue;
    }
    if (!line.starts_with("\t- ")) continue;
    const std::string_view rest = line.substr(3);
    const std::string_view lock = LockOf(rest);
    if (lock.empty()) continue;
    if (in_synchronizers || rest.starts_with("locked ")) {
      t.holds.emplace_back(Address(lock));
    } else if (rest.starts_with("waiting to lock ") || rest.starts_with("parking to wait for ")) {
      t.waits_for = std::string(lock);
    }
  }
  return dump;
}

std::string JvmDumpVerdict(const JvmDump& dump, size_t max_groups) {
  std::vector<std::string> parts;
  if (dump.deadlock) parts.push_back("a Java-level deadlock (the dump names its threads)");
  for (const JvmThread& t : dump.threads) {
    if (!t.java || !IsShutdownThread(t) || t.frames.empty()) continue;
    parts.push_back(fmt::format("JVM shutdown waits for its shutdown hooks (\"{}\" in {})", t.name,
                                t.frames.front().function == "java.lang.Object.wait" && t.frames.size() > 1
                                    ? t.frames[1].function
                                    : t.frames.front().function));
    break;
  }
  std::vector<Group> groups;
  for (const JvmThread& t : dump.threads) {
    if (!t.java) continue;
    std::string where = Where(t);
    if (where.empty()) continue;
    std::string lock;
    if (!t.waits_for.empty() && t.state == "BLOCKED") {
      lock = " waiting to lock " + t.waits_for;
      const std::string_view address = Address(t.waits_for);
      for (const JvmThread& owner : dump.threads)
        if (&owner != &t && std::find(owner.holds.begin(), owner.holds.end(), address) != owner.holds.end())
          lock += fmt::format(" held by \"{}\"", owner.name);
    }
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const Group& g) { return g.state == t.state && g.where == where && g.lock == lock; });
    if (it == groups.end()) {
      groups.push_back({t.state, std::move(where), std::move(lock), {t.name}});
    } else {
      it->names.push_back(t.name);
    }
  }
  std::stable_sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) {
    if (Rank(a.state) != Rank(b.state)) return Rank(a.state) < Rank(b.state);
    return a.names.size() > b.names.size();
  });
  for (size_t i = 0; i < groups.size() && i < max_groups; ++i) {
    const Group& g = groups[i];
    const std::string who =
        g.names.size() == 1 ? fmt::format("\"{}\"", g.names[0]) : fmt::format("{} threads", g.names.size());
    parts.push_back(
        fmt::format("{} {} in {}{}", who, g.state.empty() ? "in an unknown state" : g.state, g.where, g.lock));
  }
  if (groups.size() > max_groups) {
    size_t rest = 0;
    for (size_t i = max_groups; i < groups.size(); ++i) rest += groups[i].names.size();
    parts.push_back(fmt::format("{} more {}", rest, rest == 1 ? "thread" : "threads"));
  }
  return fmt::format("{}", fmt::join(parts, "; "));
}

}  // namespace coder::harness
