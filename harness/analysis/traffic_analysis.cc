#include "harness/analysis/traffic_analysis.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "harness/analysis/json_reader.h"
#include "harness/analysis/traffic_json.h"

namespace coder::harness {
namespace {

using nlohmann::json;

std::string Plural(uint64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

std::string Seconds(double ms) { return fmt::format("{:.1f} s", ms / 1e3); }

}  // namespace

std::string DescribeRequests(const RequestFates& f) {
  std::vector<std::string> parts;
  const uint64_t answered = f.answered_before + f.answered_after;
  if (answered > 0) parts.push_back(fmt::format("{} answered ({} during the stop)", answered, f.answered_after));
  if (f.refused > 0) parts.push_back(fmt::format("{} refused after the listener closed", f.refused));
  if (f.closed_before_read > 0) parts.push_back(fmt::format("{} closed before read", f.closed_before_read));
  parts.push_back(fmt::format("{} dropped", f.dropped));
  if (f.open_at_exit > 0) parts.push_back(fmt::format("{} open at exit", f.open_at_exit));
  if (f.open_at_watchdog > 0) parts.push_back(fmt::format("{} open at the watchdog", f.open_at_watchdog));
  if (f.error > 0) parts.push_back(Plural(f.error, "error", "errors"));
  return fmt::format("{}", fmt::join(parts, ", "));
}

std::optional<std::string> DroppedFinding(const RunRecord& run) {
  if (!run.traffic) return std::nullopt;
  const RequestFates all = run.traffic->AllRequests();
  if (all.dropped == 0) return std::nullopt;
  std::vector<std::string> where;
  for (const auto& c : run.traffic->clients)
    if (c.requests.dropped > 0)
      where.push_back(fmt::format("{} of --client {} {}", c.requests.dropped, c.kind, c.path));
  if (run.traffic->load && run.traffic->load->requests.dropped > 0)
    where.push_back(fmt::format("{} of --load {}", run.traffic->load->requests.dropped, run.traffic->load->path));
  return fmt::format("{} the server took and never answered whole ({}); of {} tried",
                     Plural(all.dropped, "request", "requests"), fmt::join(where, ", "), all.total());
}

std::optional<std::string> HeldByClientFinding(const RunRecord& run) {
  if (!run.traffic || !run.latency_ms) return std::nullopt;
  if (run.outcome != Outcome::kSlow && run.outcome != Outcome::kTimeoutFingerprint &&
      run.outcome != Outcome::kKilledByWatchdog)
    return std::nullopt;
  std::vector<std::string> held;
  for (const auto& c : run.traffic->clients) {
    const uint64_t open = c.connections.open_at_exit + c.connections.open_at_watchdog;
    if (open == 0) continue;
    // A silent connection asked for no path.
    const std::string what = c.kind == "silent" ? "silent connection" : fmt::format("{} {}", c.kind, c.path);
    held.push_back(fmt::format("{}{} open until {}", what,
                               c.count > 1 ? fmt::format(" ({} of {})", open, c.count) : std::string(),
                               c.connections.open_at_watchdog > 0 ? "the watchdog fired" : "exit"));
  }
  if (held.empty()) return std::nullopt;
  return fmt::format("stop took {}; {}", Seconds(*run.latency_ms), fmt::join(held, "; "));
}

std::optional<std::string> ClientsNotEstablished(const RunRecord& run) {
  if (!run.traffic || run.traffic->established) return std::nullopt;
  return run.traffic->establish_detail.empty() ? std::string("the clients were not all established")
                                               : run.traffic->establish_detail;
}

void TrafficTally::Add(const RunRecord& run) {
  if (!run.traffic) return;
  ++sum_.runs;
  sum_.requests += run.traffic->AllRequests();
  for (const auto& c : run.traffic->clients) {
    sum_.connections.not_established += c.connections.not_established;
    sum_.connections.closed += c.connections.closed;
    sum_.connections.reset += c.connections.reset;
    sum_.connections.open_at_exit += c.connections.open_at_exit;
    sum_.connections.open_at_watchdog += c.connections.open_at_watchdog;
    for (const auto& [code, n] : c.websocket_close_codes) sum_.websocket_close_codes[code] += n;
  }
  if (const auto& load = run.traffic->load) {
    for (const auto& [status, n] : load->statuses) sum_.statuses[status] += n;
    rates_.push_back(load->achieved_per_s);
    if (load->before.count > 0) {
      before_p50_.push_back(load->before.p50_ms);
      sum_.latency_before_p99_ms = std::max(sum_.latency_before_p99_ms, load->before.p99_ms);
    }
    if (load->during.count > 0) {
      during_p50_.push_back(load->during.p50_ms);
      sum_.latency_during_p99_ms = std::max(sum_.latency_during_p99_ms, load->during.p99_ms);
    }
  }
}

std::optional<TrafficSummary> TrafficTally::Summary() const {
  if (sum_.runs == 0) return std::nullopt;
  TrafficSummary s = sum_;
  if (!rates_.empty()) {
    double total = 0;
    for (double r : rates_) total += r;
    s.achieved_per_s_mean = total / static_cast<double>(rates_.size());
  }
  s.latency_before_p50_ms = Median(before_p50_);
  s.latency_during_p50_ms = Median(during_p50_);
  return s;
}

json TrafficSummary::ToJson() const {
  // The fates reuse the run record's encoding (traffic_json.h) through a one-run record.
  TrafficRecord as_record;
  as_record.clients.push_back(
      {.connections = connections, .requests = requests, .websocket_close_codes = websocket_close_codes});
  const json one = TrafficJson(as_record)["clients"][0];
  json codes = one["websocket_close_codes"];
  json status_counts = json::object();
  for (const auto& [status, n] : statuses) status_counts[std::to_string(status)] = n;
  return {{"runs", runs},
          {"requests", one["requests"]},
          {"connections", one["connections"]},
          {"websocket_close_codes", std::move(codes)},
          {"statuses", std::move(status_counts)},
          {"achieved_per_s_mean", achieved_per_s_mean ? json(*achieved_per_s_mean) : json(nullptr)},
          {"latency_before_p50_ms", latency_before_p50_ms},
          {"latency_before_p99_ms", latency_before_p99_ms},
          {"latency_during_p50_ms", latency_during_p50_ms},
          {"latency_during_p99_ms", latency_during_p99_ms}};
}

std::optional<TrafficSummary> TrafficSummary::FromJson(const json& j) {
  if (!j.is_object()) return std::nullopt;
  // Read back through the run record's reader, as a one-group record.
  json record = {
      {"clients", json::array({{{"requests", j.value("requests", json::object())},
                                {"connections", j.value("connections", json::object())},
                                {"websocket_close_codes", j.value("websocket_close_codes", json::object())}}})},
      {"load", {{"statuses", j.value("statuses", json::object())}}}};
  std::optional<TrafficRecord> t;
  if (!ReadTraffic(record, t) || !t) return std::nullopt;
  TrafficSummary s;
  s.requests = t->clients[0].requests;
  s.connections = t->clients[0].connections;
  s.websocket_close_codes = t->clients[0].websocket_close_codes;
  s.statuses = t->load->statuses;
  JsonReader in(j);
  in.U64("runs", s.runs);
  in.Double("achieved_per_s_mean", s.achieved_per_s_mean);
  in.Double("latency_before_p50_ms", s.latency_before_p50_ms);
  in.Double("latency_before_p99_ms", s.latency_before_p99_ms);
  in.Double("latency_during_p50_ms", s.latency_during_p50_ms);
  in.Double("latency_during_p99_ms", s.latency_during_p99_ms);
  if (!in.ok()) return std::nullopt;
  return s;
}

}  // namespace coder::harness
