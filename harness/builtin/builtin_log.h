#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/analysis/run_record.h"

namespace coder::harness::builtin {

/// Parses a shutdown-step line of the built-in server's log, human (`shutdown step done  step=NAME
/// took=1.20ms`) or JSON (`{"msg":"shutdown step done","step":"NAME","took_ms":1.2}`); nullopt for any
/// other line. Pure function.
std::optional<StepTiming> ParseStepLine(std::string_view line);

/// The wait-group slots the built-in server's timeout line names (`held=a, b` or JSON `"held":"a, b"`),
/// in the line's order; empty if it names none. Pure function.
std::vector<std::string> ParseHeldSlots(std::string_view line);

}  // namespace coder::harness::builtin
