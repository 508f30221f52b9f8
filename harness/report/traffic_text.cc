#include "harness/report/traffic_text.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "harness/report/report.h"

namespace coder::harness {
namespace {

std::string Latency(double p50, double p99, bool any) {
  return any ? fmt::format("{}/{}", FormatMs(p50), FormatMs(p99)) : "-";
}

std::string Connections(const ConnectionFates& f) {
  std::vector<std::string> parts;
  if (f.closed > 0) parts.push_back(fmt::format("{} closed", f.closed));
  if (f.reset > 0) parts.push_back(fmt::format("{} reset", f.reset));
  if (f.open_at_exit > 0) parts.push_back(fmt::format("{} open at exit", f.open_at_exit));
  if (f.open_at_watchdog > 0) parts.push_back(fmt::format("{} open at watchdog", f.open_at_watchdog));
  if (f.not_established > 0) parts.push_back(fmt::format("{} not established", f.not_established));
  return parts.empty() ? "-" : fmt::format("{}", fmt::join(parts, ", "));
}

std::string CloseCodes(const std::map<int, uint64_t>& codes) {
  std::vector<std::string> parts;
  for (const auto& [code, n] : codes) parts.push_back(fmt::format("{} x{}", code, n));
  return parts.empty() ? "-" : fmt::format("{}", fmt::join(parts, ", "));
}

std::string Rate(const std::optional<double>& rate) { return rate ? fmt::format("{:.0f}", *rate) : "-"; }

}  // namespace

std::vector<std::string> TrafficHeader() {
  return {"answered", "during stop", "refused",        "closed-before-read", "dropped",     "open",
          "errors",   "rate/s",      "p50/p99 before", "p50/p99 during",     "connections", "websocket close"};
}

std::vector<std::string> TrafficCells(const TrafficSummary& t) {
  const RequestFates& r = t.requests;
  return {std::to_string(r.answered_before + r.answered_after),
          std::to_string(r.answered_after),
          std::to_string(r.refused),
          std::to_string(r.closed_before_read),
          std::to_string(r.dropped),
          std::to_string(r.open_at_exit + r.open_at_watchdog),
          std::to_string(r.error),
          Rate(t.achieved_per_s_mean),
          Latency(t.latency_before_p50_ms, t.latency_before_p99_ms, t.latency_before_p99_ms > 0),
          Latency(t.latency_during_p50_ms, t.latency_during_p99_ms, t.latency_during_p99_ms > 0),
          Connections(t.connections),
          CloseCodes(t.websocket_close_codes)};
}

std::string TrafficLine(const TrafficSummary& t) {
  std::string out = "requests: " + DescribeRequests(t.requests);
  if (t.achieved_per_s_mean)
    out += fmt::format("; load {}/s, latency p50/p99 {} before, {} during", Rate(t.achieved_per_s_mean),
                       Latency(t.latency_before_p50_ms, t.latency_before_p99_ms, t.latency_before_p99_ms > 0),
                       Latency(t.latency_during_p50_ms, t.latency_during_p99_ms, t.latency_during_p99_ms > 0));
  if (t.connections.total() > 0) out += "; connections: " + Connections(t.connections);
  if (!t.websocket_close_codes.empty()) out += "; websocket close codes: " + CloseCodes(t.websocket_close_codes);
  return out;
}

}  // namespace coder::harness
