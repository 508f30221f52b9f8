#pragma once

namespace coder::harness {

/// The exit codes of `coder diag shutdown` and `coder diag merge`, in one place: the gate decides them,
/// the report files record them (`meta.exit_code`, `gate.exit_code`) and the CI formats render them.
/// Of several that apply, the larger wins (130 > 3 > 1 > 0), which is also how a merge combines them.
inline constexpr int kDiagNoFindings = 0;
/// Findings in a gated (non-baseline) variant, or a run of any variant that left the stop untested.
inline constexpr int kDiagFindings = 1;
inline constexpr int kDiagUsage = 2;          ///< a bad flag, an unreadable or unmergeable input
inline constexpr int kDiagHarnessFailed = 3;  ///< the harness could not do or keep its work
inline constexpr int kDiagInterrupted = 130;  ///< SIGINT/SIGTERM: a partial report

/// `coder diag history check`'s verdicts (2 and 3 as above).
inline constexpr int kHistoryStopped = 0;         ///< no hit since, significantly fewer than before
inline constexpr int kHistoryStillRecurring = 1;  ///< a hit since
inline constexpr int kHistoryNotEnoughEvidence = 4;

}  // namespace coder::harness
