#include "harness/analysis/hang_verdict.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace coder::harness {
namespace {

bool IsTcp(const OpenSocket& s) { return s.protocol == "tcp" || s.protocol == "tcp6"; }

std::string Plural(size_t n, const char* one, const char* many) { return fmt::format("{} {}", n, n == 1 ? one : many); }

constexpr size_t kListed = 3;  // connections or listeners named in the sentence; the rest counted

std::string ConnectionsPart(const std::vector<const OpenSocket*>& outside) {
  if (outside.empty()) return "no connection open";
  std::vector<std::string> named;
  for (size_t i = 0; i < outside.size() && i < kListed; ++i) {
    const OpenSocket& s = *outside[i];
    std::string text = fmt::format("{} {} ← {}", s.state, s.local, s.remote);
    if (!s.held_by.empty()) text += fmt::format(" ({})", s.held_by);
    named.push_back(std::move(text));
  }
  if (outside.size() > kListed) named.push_back(fmt::format("{} more", outside.size() - kListed));
  return fmt::format("{} open: {}", Plural(outside.size(), "connection", "connections"), fmt::join(named, ", "));
}

std::string ListenersPart(const HangSnapshot& hang) {
  std::vector<std::string> listeners;
  for (const OpenSocket& s : hang.sockets)
    if (IsTcp(s) && s.state == "LISTEN") listeners.push_back(s.local);
  if (listeners.empty()) return "no listener open";
  const size_t n = listeners.size();
  if (n > kListed) {
    listeners.resize(kListed);
    listeners.push_back(fmt::format("{} more", n - kListed));
  }
  return fmt::format("{} {} still open", n == 1 ? "listener" : "listeners", fmt::join(listeners, ", "));
}

std::string ThreadsPart(const HangSnapshot& hang) {
  std::map<std::string, size_t> by_wait;
  size_t threads = 0;
  for (const ProcessThreads& p : hang.processes) {
    for (const ThreadState& t : p.threads) {
      ++by_wait[ThreadWait(t)];
      ++threads;
    }
  }
  if (threads == 0) return "";
  std::vector<std::pair<std::string, size_t>> order(by_wait.begin(), by_wait.end());
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  const std::string head = Plural(threads, "thread", "threads") +
                           (hang.processes.size() > 1 ? fmt::format(" of {} processes", hang.processes.size()) : "");
  if (order.size() == 1)
    return fmt::format("{}, {}", head, threads == 1 ? "in " + order[0].first : "all in " + order[0].first);
  std::vector<std::string> parts;
  for (const auto& [wait, n] : order) parts.push_back(fmt::format("{} in {}", n, wait));
  return fmt::format("{}: {}", head, fmt::join(parts, ", "));
}

// "goroutines" for Go's dump; the runtime's own word for what it lists.
std::string DumpSubject(const ProcessStacks& s) {
  if (s.runtime == "go") return "goroutines";
  if (s.runtime == "python") return "Python threads";
  if (s.runtime == "jvm") return "JVM threads";
  if (s.runtime == "node") return "Node.js";
  return s.runtime + " threads";
}

bool IsRuntimeDump(const ProcessStacks& s) { return !s.runtime.empty() && s.runtime != "native"; }

}  // namespace

std::string ThreadWait(const ThreadState& t) {
  if (!t.syscall.empty() && t.syscall != "running" && t.syscall != "in kernel") return t.syscall;
  if (!t.wchan.empty()) return t.wchan;
  if (t.state == 'R' || t.syscall == "running") return "running";
  return fmt::format("state {}", t.state);
}

std::vector<const OpenSocket*> OutsideConnections(const HangSnapshot& hang) {
  std::set<std::string> own_endpoints;
  for (const OpenSocket& s : hang.sockets)
    if (IsTcp(s) && s.state != "LISTEN") own_endpoints.insert(s.local);
  std::vector<const OpenSocket*> out;
  for (const OpenSocket& s : hang.sockets)
    if (IsTcp(s) && s.state != "LISTEN" && !own_endpoints.count(s.remote)) out.push_back(&s);
  return out;
}

std::vector<std::string> WhereItHungLines(const HangSnapshot& hang, size_t max_sockets, size_t max_threads) {
  std::vector<std::string> out;
  out.push_back(fmt::format("where it hung (at the {}, {:.1f}s after the launch): {}", hang.taken_at, hang.at_ms / 1000,
                            hang.verdict));
  const uint64_t unlisted = hang.sockets.size() > max_sockets ? hang.sockets.size() - max_sockets : 0;
  if (!hang.sockets.empty()) out.push_back("open sockets:");
  for (size_t i = 0; i < hang.sockets.size() && i < max_sockets; ++i) {
    const OpenSocket& s = hang.sockets[i];
    std::string line = fmt::format("  pid {} fd {} {}", s.pid, s.fd, s.protocol);
    if (!s.state.empty()) line += " " + s.state;
    if (!s.local.empty()) line += " " + s.local;
    if (!s.remote.empty()) line += " ← " + s.remote;
    if (IsTcp(s) && (s.rx_queue != 0 || s.tx_queue != 0))
      line += fmt::format(" (unread {} B, unacknowledged {} B)", s.rx_queue, s.tx_queue);
    if (!s.held_by.empty()) line += ": " + s.held_by;
    out.push_back(std::move(line));
  }
  if (unlisted + hang.sockets_omitted > 0)
    out.push_back(fmt::format("  and {} more sockets", unlisted + hang.sockets_omitted));
  for (const ProcessThreads& p : hang.processes) {
    const uint64_t threads = p.threads.size() + p.threads_omitted;
    out.push_back(fmt::format("threads of pid {} ({}): {}", p.pid, p.name, threads));
    for (size_t i = 0; i < p.threads.size() && i < max_threads; ++i) {
      const ThreadState& t = p.threads[i];
      out.push_back(fmt::format("  tid {} {} [{}] {}", t.tid, t.name, t.state, ThreadWait(t)));
    }
    if (threads > max_threads) out.push_back(fmt::format("  and {} more threads", threads - max_threads));
  }
  if (hang.processes_omitted > 0) out.push_back(fmt::format("and {} more processes", hang.processes_omitted));
  return out;
}

std::string HangVerdict(const HangSnapshot& hang, const std::vector<ProcessStacks>& stacks) {
  std::vector<std::string> parts;
  for (const ProcessStacks& s : stacks)
    if (IsRuntimeDump(s) && !s.verdict.empty())
      parts.push_back(fmt::format("{} of pid {}: {}", DumpSubject(s), s.pid, s.verdict));
  parts.push_back(HangVerdict(hang));
  return fmt::format("{}", fmt::join(parts, "; "));
}

std::vector<std::string> WhereItHungLines(const HangSnapshot& hang, const std::vector<ProcessStacks>& stacks) {
  std::vector<std::string> out = WhereItHungLines(hang);
  for (const ProcessStacks& s : stacks) {
    if (!IsRuntimeDump(s)) continue;
    std::string line = fmt::format("{} dump of pid {} ({}, {:.1f}s after the launch{}): ", s.runtime, s.pid, s.tool,
                                   s.at_ms / 1000, s.cut ? ", cut at its limit" : "");
    if (!s.verdict.empty()) {
      line += s.verdict;
    } else {
      line += s.runtime == "node" ? "no report read" : "no " + DumpSubject(s) + " read";
    }
    if (!s.error.empty()) line += " (" + s.error + ")";
    out.push_back(std::move(line));
  }
  return out;
}

std::string HangVerdict(const HangSnapshot& hang) {
  std::vector<std::string> parts = {ConnectionsPart(OutsideConnections(hang)), ListenersPart(hang)};
  if (std::string threads = ThreadsPart(hang); !threads.empty()) parts.push_back(std::move(threads));
  return fmt::format("{}", fmt::join(parts, "; "));
}

}  // namespace coder::harness
