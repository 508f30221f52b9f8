#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "harness/traffic/traffic_spec.h"

namespace coder::harness {

/// `coder diag shutdown`'s traffic flags as given.
struct TrafficFlags {
  std::vector<std::string> clients;  ///< --client KIND:COUNT[:PATH], repeatable
  std::string load;                  ///< --load RATE/s:PATH or max:PATH
  std::string load_connections = "8";
  std::string url;                   ///< --client-url BASE
  std::vector<std::string> headers;  ///< --client-header NAME:VALUE, repeatable
  std::string timeout = "10s";       ///< --client-timeout: how long the clients may take to be established
};

/// What the traffic flags need of the rest of the experiment.
struct TrafficContext {
  bool builtin_server = false;       ///< its ready line names its URL
  std::string websocket_path = "/";  ///< where a --client websocket without a PATH goes
  bool url_source = false;           ///< --ready-url given, or {port} in a target's command
  int live_targets = 1;              ///< --parallel, or --max-live in the open loop
};

/// Checks the traffic flags into `out`. An Error for a malformed flag, for traffic with nowhere to go
/// (no --client-url, --ready-url or {port}, and not the built-in server), and for more connections than
/// the harness may open (its descriptor limit, raised to the hard limit when that is needed).
Status ParseTrafficFlags(const TrafficFlags& flags, const TrafficContext& context, TrafficSpec& out);

}  // namespace coder::harness
