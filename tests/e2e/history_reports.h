#pragma once

// JSON-lines reports with known counts, for the history's end-to-end tests (SQLite and PostgreSQL).
#include <functional>
#include <ostream>
#include <string>

#include "harness/analysis/run_record.h"

namespace coder::e2e {

inline const std::string kHistoryFingerprint = "websocket-shutdown-timeout";

/// Writes runs `first`..`first + runs - 1` of `variant` to `out` as JSON lines, those whose index `hit`
/// selects with kHistoryFingerprint (and a 10 s latency). The others' latencies start at
/// `base_latency_ms`: reports of one variant must differ to be different runs.
inline void AppendRuns(
    std::ostream& out, const std::string& variant, int first, int runs,
    const std::function<bool(int)>& hit = [](int) { return false; }, double base_latency_ms = 0.5) {
  for (int i = first; i < first + runs; ++i) {
    harness::RunRecord run;
    run.variant = variant;
    run.index = i;
    run.latency_ms = base_latency_ms + i * 0.001;
    if (hit(i)) {
      run.outcome = harness::Outcome::kTimeoutFingerprint;
      run.fingerprints = {kHistoryFingerprint};
      run.latency_ms = 10000.2 + i * 0.001;
    }
    out << run.ToJson().dump() << '\n';
  }
}

}  // namespace coder::e2e
