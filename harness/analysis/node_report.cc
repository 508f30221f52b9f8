#include "harness/analysis/node_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

namespace coder::harness {
namespace {

using json = nlohmann::json;

std::string StringAt(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// {"host": "localhost", "ip4": "127.0.0.1", "port": 8080} → "127.0.0.1:8080"; "[::1]:8080" for ip6.
std::string Endpoint(const json& handle, const char* key) {
  auto it = handle.find(key);
  if (it == handle.end() || !it->is_object()) return "";
  const json& e = *it;
  std::string port;
  if (auto p = e.find("port"); p != e.end() && p->is_number_integer()) port = std::to_string(p->get<long>());
  if (std::string ip = StringAt(e, "ip4"); !ip.empty()) return port.empty() ? ip : ip + ":" + port;
  if (std::string ip = StringAt(e, "ip6"); !ip.empty()) return port.empty() ? ip : "[" + ip + "]:" + port;
  return StringAt(e, "host") + (port.empty() ? "" : ":" + port);
}

bool BoolAt(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

// "Unavailable." and "No stack." are what a report says when no JavaScript ran at the signal.
bool IsStackPlaceholder(const std::string& frame) { return frame == "Unavailable." || frame == "No stack."; }

std::string Plural(size_t n, const char* one, const char* many) { return fmt::format("{} {}", n, n == 1 ? one : many); }

}  // namespace

Result<NodeReport> ParseNodeReport(std::string_view json_text) {
  const json doc = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Error{"the Node.js report is not JSON (cut off while it was written?)"};
  if (!doc.is_object() || !doc.contains("header") || !doc["header"].is_object())
    return Error{"not a Node.js diagnostic report: it has no \"header\" object"};
  NodeReport report;
  const json& header = doc["header"];
  if (auto p = header.find("processId"); p != header.end() && p->is_number_integer()) report.pid = p->get<long>();
  report.trigger = StringAt(header, "trigger");
  if (auto js = doc.find("javascriptStack"); js != doc.end() && js->is_object()) {
    report.js_message = StringAt(*js, "message");
    if (auto stack = js->find("stack"); stack != js->end() && stack->is_array())
      for (const json& frame : *stack)
        if (frame.is_string() && !IsStackPlaceholder(frame.get<std::string>()))
          report.js_stack.push_back(frame.get<std::string>());
    if (report.js_message == "No stack.") report.js_message.clear();
  }
  if (auto uv = doc.find("libuv"); uv != doc.end() && uv->is_array()) {
    for (const json& h : *uv) {
      if (!h.is_object()) continue;
      NodeHandle handle;
      handle.type = StringAt(h, "type");
      if (handle.type == "loop" || handle.type.empty()) continue;
      handle.active = BoolAt(h, "is_active");
      handle.referenced = BoolAt(h, "is_referenced");
      handle.local = Endpoint(h, "localEndpoint");
      handle.remote = Endpoint(h, "remoteEndpoint");
      if (auto f = h.find("firesInMsFromNow"); f != h.end() && f->is_number()) handle.fires_in_ms = f->get<double>();
      if (auto p = h.find("pid"); p != h.end() && p->is_number_integer()) handle.pid = p->get<long>();
      report.handles.push_back(std::move(handle));
    }
  }
  return report;
}

std::string NodeReportText(const NodeReport& report) {
  std::string out = fmt::format("Node.js report of pid {} (trigger {})\n", report.pid,
                                report.trigger.empty() ? "unknown" : report.trigger);
  if (report.js_stack.empty()) {
    out += "JavaScript stack: none (the event loop was idle)\n";
  } else {
    out += "JavaScript stack" + (report.js_message.empty() ? "" : " (" + report.js_message + ")") + ":\n";
    for (const std::string& frame : report.js_stack) out += "    " + frame + "\n";
  }
  out += "libuv handles (active, referenced):\n";
  for (const NodeHandle& h : report.handles) {
    if (!h.active) continue;
    std::string line = fmt::format("    {}{}", h.type, h.referenced ? "" : " (unreferenced)");
    if (!h.local.empty()) line += " " + h.local;
    if (!h.remote.empty()) line += " <- " + h.remote;
    if (h.type == "timer") line += fmt::format(" fires in {:.0f} ms", h.fires_in_ms);
    if (h.pid != 0) line += fmt::format(" pid {}", h.pid);
    out += line + "\n";
  }
  return out;
}

std::string NodeReportVerdict(const NodeReport& report) {
  std::vector<std::string> held;
  std::vector<std::string> connections;
  size_t listeners = 0;
  size_t timers = 0;
  size_t children = 0;
  std::map<std::string, size_t> others;
  for (const NodeHandle& h : report.handles) {
    // Only active and referenced handles keep the loop, and so the process, alive.
    if (!h.active || !h.referenced) continue;
    if (h.type == "tcp" && !h.remote.empty()) {
      connections.push_back(h.local + " ← " + h.remote);
    } else if (h.type == "tcp") {
      ++listeners;
    } else if (h.type == "timer") {
      ++timers;
    } else if (h.type == "process") {
      ++children;
    } else {
      ++others[h.type];
    }
  }
  if (!connections.empty()) {
    std::string text = Plural(connections.size(), "open connection", "open connections");
    const size_t shown = std::min<size_t>(connections.size(), 3);
    text +=
        " " + fmt::format("{}", fmt::join(connections.begin(), connections.begin() + static_cast<long>(shown), ", "));
    if (connections.size() > shown) text += fmt::format(" and {} more", connections.size() - shown);
    held.push_back(std::move(text));
  }
  if (listeners > 0) held.push_back(Plural(listeners, "listener", "listeners"));
  if (timers > 0) held.push_back(Plural(timers, "timer", "timers"));
  if (children > 0) held.push_back(Plural(children, "child process", "child processes"));
  for (const auto& [type, n] : others) held.push_back(fmt::format("{} {}", n, type));
  std::string out = report.js_stack.empty() ? "event loop idle" : "JavaScript " + report.js_stack.front();
  if (!held.empty()) out += fmt::format("; held by {}", fmt::join(held, ", "));
  return out;
}

}  // namespace coder::harness
