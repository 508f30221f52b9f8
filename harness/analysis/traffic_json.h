#pragma once

#include <nlohmann/json.hpp>

#include <optional>

#include "harness/traffic/traffic_record.h"

namespace coder::harness {

/// A run's traffic as the run record's `traffic` member (docs/report-schema.md, "Traffic"): null
/// without --client or --load; every key of a present record always written.
nlohmann::json TrafficJson(const std::optional<TrafficRecord>& traffic);
/// The inverse of TrafficJson: false when `j` is present but malformed (a wrong type anywhere).
bool ReadTraffic(const nlohmann::json& j, std::optional<TrafficRecord>& out);

}  // namespace coder::harness
