#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "harness/analysis/run_record.h"

namespace coder::harness::builtin {

/// The built-in server's ready line (it prints the real address after it).
inline constexpr const char* kReadyLine = "Started HTTP listener at ";

/// The labels of the built-in matrix: `order=patched|unpatched`, `gateway=on|off`.
inline constexpr const char* kOrderLabel = "order";
inline constexpr const char* kGatewayLabel = "gateway";

/// The order of the default baseline: unpatched is the matrix's reference point.
inline constexpr const char* kDefaultBaselineOrder = "unpatched";

/// The server's own --websocket-shutdown-timeout when none is given: the latency a stop that waited
/// out the WebSocket group ends at.
inline constexpr double kDefaultWebsocketShutdownTimeoutMs = 10'000;

/// The matrix as `coder diag shutdown` was asked for it.
struct MatrixOptions {
  std::string executable;                               ///< the coder binary, launched as `coder server`
  std::vector<std::string> orders;                      ///< --shutdown-order, split at commas: patched, unpatched
  std::vector<std::string> gateways;                    ///< --gateway, split at commas: on, off
  std::string websocket_shutdown_timeout;               ///< passed to the server as given; empty: its default
  std::optional<double> websocket_shutdown_timeout_ms;  ///< that value; the variants' known timeout
};

/// Every order × gateway setting, orders outer, each named `order=X,gateway=Y`, labelled
/// {order: X, gateway: Y}, builtin_server, with the argv that runs it (without the per-run
/// RunArguments) and its known timeout. An Error names the flag (--shutdown-order, --gateway) whose
/// list is empty or holds an unknown value. Pure function.
Result<std::vector<VariantSpec>> Matrix(const MatrixOptions& options);

/// What each run adds to a built-in variant's argv: its own `--config-dir`, inside the run's private
/// directory `run_dir`.
std::vector<std::string> RunArguments(const std::filesystem::path& run_dir);

/// The URL the built-in server's ready line announces ("Started HTTP listener at http://127.0.0.1:41234"
/// → "http://127.0.0.1:41234"): where --client traffic goes by default. nullopt for another line.
std::optional<std::string> UrlFromReadyLine(std::string_view line);

/// The headers a client of a run's built-in server needs: its session token (written into the run's
/// config directory before the ready line), as Coder-Session-Token. Empty when the token cannot be read.
std::vector<std::pair<std::string, std::string>> ClientHeaders(const std::filesystem::path& run_dir);

/// The built-in server's WebSocket endpoint (the notifications watch), for `--client websocket:N`.
inline constexpr const char* kWebsocketPath = "/api/v2/notifications/watch";

/// Whether `variant` runs the shutdown order `order` (its `order` label says so).
bool HasOrder(const VariantSpec& variant, std::string_view order);

/// Whether `a` and `b` are one variant in two shutdown orders: both carry an `order` label, the orders
/// differ, and every other label is the same. What pairs a variant with its baseline.
bool DiffersOnlyInOrder(const VariantSpec& a, const VariantSpec& b);

/// The labels of a built-in variant as its argv states them (`--shutdown-order X`,
/// `--ai-gateway-enabled=true|false`), an argument it lacks meaning the server's default (patched, on):
/// for reports written before variants carried labels. Pure function.
std::map<std::string, std::string> LabelsFromArgv(const std::vector<std::string>& argv);

}  // namespace coder::harness::builtin
