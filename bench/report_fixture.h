#pragma once

// Run records shaped like real ones of the built-in matrix, for the report benchmarks: fast stops have
// a few RSS samples; the unpatched order with the gateway has 10 s tails with the full 512-point
// timeline, the timeout line, the held slot and its log.
#include <vector>

#include "harness/analysis/run_record.h"

namespace coder::bench {

/// The built-in matrix: order patched/unpatched x gateway on/off, unpatched as the baselines.
std::vector<harness::VariantSpec> MatrixVariants();

/// Run `i` of an experiment over `variants`, interleaved as the closed loop runs them (run i is of
/// variant i % size, index i / size). Deterministic.
harness::RunRecord SyntheticRun(int i, const std::vector<harness::VariantSpec>& variants);

}  // namespace coder::bench
