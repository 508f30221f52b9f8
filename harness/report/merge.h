#pragma once

#include <nlohmann/json.hpp>

#include <vector>

#include "common/result.h"

namespace coder::harness {

/// Combines report documents (docs/report-schema.md) from several machines or CI shards into one, as
/// if one harness had run every variant's runs:
/// - every input must be an object with `schema` "coder.diag.shutdown/v1", well-formed `variants`
///   (each with a `spec.name`) and `runs` (each a valid run record of a variant its report lists);
///   otherwise an Error naming the input ("report 2 of 3: ...", in the order given);
/// - variants are the union by name, in order of first appearance; a variant in several inputs must
///   have the same spec in each (compared as JSON), otherwise an Error naming the variant, both
///   inputs and the keys that differ. For a `builtin_server` variant argv[0] (the coder binary, at
///   another absolute path in each CI checkout) is left out of the comparison, and `labels` are
///   compared only when both inputs have them (a report written before labels has none); the merged
///   spec is the first input's, argv[0] included, with the labels of the first input that has them;
/// - runs are concatenated in input order (each input's in its own order), every run's JSON kept as
///   is (unknown keys included) except: `index` is renumbered per variant, in input order and then
///   by original index, so indexes stay unique and 0-based; `source` (new) is the input's 0-based
///   position and `source_index` (new) the run's original index there. `launch_ms` still counts from
///   the start of its own input's experiment: compare it only between runs of one `source`;
/// - each summary is recomputed with SummarizeVariant over the merged runs (read with
///   RunRecord::FromJson);
/// - meta: the first input's coder_version, command_line and options (a note says when the inputs
///   differ); the earliest started_at; the longest wall_seconds; `interrupted` if any was; exit_code
///   the largest of the inputs' (130 > 3 > 1 > 0 is also their order of precedence); notes: one
///   saying how many runs came from each input, each input's notes prefixed "report N: ", and, when
///   any input had a budget, that it was dropped;
/// - `budget` is null (timelines from different machines share no clock and cannot be summed), as
///   are `comparisons` and `gate`, which the caller recomputes from the merged runs.
/// One input gives that report normalised the same way. No inputs is an Error. Pure; thread-safe.
Result<nlohmann::json> MergeReports(const std::vector<nlohmann::json>& reports);

}  // namespace coder::harness
