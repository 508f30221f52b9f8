#pragma once

#include <nlohmann/json.hpp>

#include <optional>

#include "harness/measure/measurements.h"

namespace coder::harness {

/// A run's hang snapshot as the run record's `hang` member (docs/report-schema.md, "Hang"): null for a
/// run that did not hang; every key of a present snapshot always written.
nlohmann::json HangJson(const std::optional<HangSnapshot>& hang);
/// The inverse of HangJson: false when `j` is present but malformed (a wrong type anywhere).
bool ReadHang(const nlohmann::json& j, std::optional<HangSnapshot>& out);

}  // namespace coder::harness
