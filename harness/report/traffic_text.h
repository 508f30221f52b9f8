#pragma once

#include <string>
#include <vector>

#include "harness/analysis/traffic_analysis.h"

// The traffic of a variant's runs as every report format shows it: one set of columns for the table
// and the Markdown table, one sentence for JUnit's text. Pure functions; thread-safe.
namespace coder::harness {

/// "answered", "during stop", "refused", "closed-before-read", "dropped", "open", "errors", "rate/s",
/// "p50/p99 before", "p50/p99 during", "connections", "websocket close".
std::vector<std::string> TrafficHeader();
/// The cells under TrafficHeader: counts summed over the runs; the achieved load rate (its mean over the
/// runs, "-" without --load); latencies as "0.14ms/0.28ms"; connections as their non-zero fates
/// ("20 closed, 1 open at exit"); WebSocket close codes ("1001 x20").
std::vector<std::string> TrafficCells(const TrafficSummary& traffic);
/// The same as one line: "requests: 1005 answered (2 during the stop), 9 refused after the listener
/// closed, 0 dropped; load 2000/s, latency p50/p99 0.14ms/0.28ms before, 0.27ms/0.41ms during;
/// connections: 28 closed; websocket close codes: 1001 x20".
std::string TrafficLine(const TrafficSummary& traffic);

}  // namespace coder::harness
