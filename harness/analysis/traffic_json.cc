#include "harness/analysis/traffic_json.h"

#include <string>

#include "harness/analysis/json_reader.h"

namespace coder::harness {
namespace {

using nlohmann::json;

json Optional(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json RequestsJson(const RequestFates& f) {
  return {{"answered_before", f.answered_before},
          {"answered_after", f.answered_after},
          {"refused", f.refused},
          {"closed_before_read", f.closed_before_read},
          {"dropped", f.dropped},
          {"open_at_exit", f.open_at_exit},
          {"open_at_watchdog", f.open_at_watchdog},
          {"error", f.error},
          {"tried", f.tried}};
}
void ReadRequests(JsonReader& in, RequestFates& f) {
  in.U64("answered_before", f.answered_before);
  in.U64("answered_after", f.answered_after);
  in.U64("refused", f.refused);
  in.U64("closed_before_read", f.closed_before_read);
  in.U64("dropped", f.dropped);
  in.U64("open_at_exit", f.open_at_exit);
  in.U64("open_at_watchdog", f.open_at_watchdog);
  in.U64("error", f.error);
  in.U64("tried", f.tried);
}

json ConnectionsJson(const ConnectionFates& f) {
  return {{"not_established", f.not_established},
          {"closed", f.closed},
          {"reset", f.reset},
          {"open_at_exit", f.open_at_exit},
          {"open_at_watchdog", f.open_at_watchdog}};
}
void ReadConnections(JsonReader& in, ConnectionFates& f) {
  in.U64("not_established", f.not_established);
  in.U64("closed", f.closed);
  in.U64("reset", f.reset);
  in.U64("open_at_exit", f.open_at_exit);
  in.U64("open_at_watchdog", f.open_at_watchdog);
}

json LatencyJson(const LatencySummary& s) {
  return {{"count", s.count}, {"p50_ms", s.p50_ms}, {"p99_ms", s.p99_ms}, {"max_ms", s.max_ms}};
}
void ReadLatency(JsonReader& in, LatencySummary& s) {
  in.U64("count", s.count);
  in.Double("p50_ms", s.p50_ms);
  in.Double("p99_ms", s.p99_ms);
  in.Double("max_ms", s.max_ms);
}

/// {"CODE": count, ...}: JSON keys are strings.
json CountsJson(const std::map<int, uint64_t>& counts) {
  json out = json::object();
  for (const auto& [code, n] : counts) out[std::to_string(code)] = n;
  return out;
}
bool ReadCounts(const json* j, JsonReader& in, std::map<int, uint64_t>& out) {
  if (j == nullptr) return true;
  if (!j->is_object()) return false;
  for (const auto& [key, value] : j->items()) {
    size_t used = 0;
    int code = 0;
    try {
      code = std::stoi(key, &used);
    } catch (...) {
      return false;
    }
    const auto n = in.AsU64(value);
    if (used != key.size() || !n) return false;
    out[code] = *n;
  }
  return true;
}

/// Reads the object member `key` with `fill`; false when it is present and not an object or malformed.
template <class Fill>
bool ReadMember(JsonReader& in, const char* key, Fill fill) {
  const json* j = in.Find(key);
  if (j == nullptr) return true;
  if (!j->is_object()) return false;
  JsonReader inner(*j);
  fill(inner);
  return inner.ok();
}

}  // namespace

json TrafficJson(const std::optional<TrafficRecord>& traffic) {
  if (!traffic) return nullptr;
  json clients = json::array();
  for (const ClientGroupRecord& c : traffic->clients) {
    clients.push_back({{"kind", c.kind},
                       {"path", c.path},
                       {"count", c.count},
                       {"established", c.established},
                       {"connections", ConnectionsJson(c.connections)},
                       {"requests", RequestsJson(c.requests)},
                       {"websocket_close_codes", CountsJson(c.websocket_close_codes)},
                       {"last_closed_ms", Optional(c.last_closed_ms)},
                       {"first_error", c.first_error}});
  }
  json load = nullptr;
  if (const auto& l = traffic->load) {
    load = {{"path", l->path},
            {"rate_per_s", Optional(l->rate_per_s)},
            {"connections", l->connections},
            {"requests", RequestsJson(l->requests)},
            {"statuses", CountsJson(l->statuses)},
            {"duration_ms", l->duration_ms},
            {"achieved_per_s", l->achieved_per_s},
            {"latency_before", LatencyJson(l->before)},
            {"latency_during", LatencyJson(l->during)},
            {"first_error", l->first_error}};
  }
  return {{"url", traffic->url},
          {"established", traffic->established},
          {"establish_detail", traffic->establish_detail},
          {"clients", std::move(clients)},
          {"load", std::move(load)}};
}

bool ReadTraffic(const json& j, std::optional<TrafficRecord>& out) {
  if (j.is_null()) return true;
  if (!j.is_object()) return false;
  TrafficRecord t;
  JsonReader in(j);
  in.String("url", t.url);
  in.Bool("established", t.established);
  in.String("establish_detail", t.establish_detail);
  if (const json* clients = in.Find("clients")) {
    if (!clients->is_array()) return false;
    for (const json& c : *clients) {
      if (!c.is_object()) return false;
      ClientGroupRecord g;
      JsonReader cin(c);
      cin.String("kind", g.kind);
      cin.String("path", g.path);
      cin.U64("count", g.count);
      cin.U64("established", g.established);
      cin.Double("last_closed_ms", g.last_closed_ms);
      cin.String("first_error", g.first_error);
      if (!ReadMember(cin, "connections", [&](JsonReader& r) { ReadConnections(r, g.connections); }) ||
          !ReadMember(cin, "requests", [&](JsonReader& r) { ReadRequests(r, g.requests); }) ||
          !ReadCounts(cin.Find("websocket_close_codes"), cin, g.websocket_close_codes) || !cin.ok())
        return false;
      t.clients.push_back(std::move(g));
    }
  }
  if (const json* l = in.Find("load")) {
    if (!l->is_object()) return false;
    LoadRecord load;
    JsonReader lin(*l);
    lin.String("path", load.path);
    lin.Double("rate_per_s", load.rate_per_s);
    lin.U64("connections", load.connections);
    lin.Double("duration_ms", load.duration_ms);
    lin.Double("achieved_per_s", load.achieved_per_s);
    lin.String("first_error", load.first_error);
    if (!ReadMember(lin, "requests", [&](JsonReader& r) { ReadRequests(r, load.requests); }) ||
        !ReadMember(lin, "latency_before", [&](JsonReader& r) { ReadLatency(r, load.before); }) ||
        !ReadMember(lin, "latency_during", [&](JsonReader& r) { ReadLatency(r, load.during); }) ||
        !ReadCounts(lin.Find("statuses"), lin, load.statuses) || !lin.ok())
      return false;
    t.load = std::move(load);
  }
  if (!in.ok()) return false;
  out = std::move(t);
  return true;
}

}  // namespace coder::harness
