#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/analysis/run_record.h"

namespace coder::harness {

/// The `dropped` finding of a run: requests the server took and never answered whole (docs/traffic.md).
/// nullopt when none was, or the run had no traffic.
std::optional<std::string> DroppedFinding(const RunRecord& run);

/// The `held-by-client` finding of a run: its stop was slow (slow, timeout-fingerprint or
/// killed-by-watchdog) and ended only as client connections it held closed, which it names: "stop
/// took 10.0 s; websocket /ws open until exit". nullopt otherwise.
std::optional<std::string> HeldByClientFinding(const RunRecord& run);

/// Why a run's clients make its stop untested (they were not all established before the signal);
/// nullopt when they were, or there were none.
std::optional<std::string> ClientsNotEstablished(const RunRecord& run);

/// A variant's traffic over its runs: fates summed, the load's achieved rate averaged, its latency
/// percentiles as the median of the runs' p50 and the highest of their p99 (percentiles of separate
/// runs do not add up to one). A plain value type.
struct TrafficSummary {
  uint64_t runs = 0;  ///< runs with traffic
  RequestFates requests;
  ConnectionFates connections;
  std::map<int, uint64_t> websocket_close_codes;
  std::map<int, uint64_t> statuses;
  std::optional<double> achieved_per_s_mean;  ///< over the runs with a load
  double latency_before_p50_ms = 0;
  double latency_before_p99_ms = 0;
  double latency_during_p50_ms = 0;
  double latency_during_p99_ms = 0;

  /// docs/report-schema.md ("Traffic summary").
  nlohmann::json ToJson() const;
  /// The inverse of ToJson; nullopt for a malformed value.
  static std::optional<TrafficSummary> FromJson(const nlohmann::json& j);
  bool operator==(const TrafficSummary&) const = default;
};

/// Accumulates a variant's TrafficSummary run by run, keeping three numbers a run. Not thread-safe.
class TrafficTally {
 public:
  void Add(const RunRecord& run);
  /// nullopt when no run had traffic.
  std::optional<TrafficSummary> Summary() const;

 private:
  TrafficSummary sum_;
  std::vector<double> rates_, before_p50_, during_p50_;
};

/// "1000 answered, 3 refused after the listener closed, 0 dropped": the request fates that occurred,
/// dropped always named.
std::string DescribeRequests(const RequestFates& fates);

}  // namespace coder::harness
