#include "harness/builtin/builtin_server.h"

#include <fstream>

#include <fmt/format.h>

#include <utility>

namespace coder::harness::builtin {
namespace {

constexpr std::string_view kOrderFlag = "--shutdown-order";
constexpr std::string_view kGatewayFlag = "--ai-gateway-enabled";

VariantSpec MatrixVariant(const MatrixOptions& o, const std::string& order, const std::string& gateway) {
  VariantSpec v;
  v.name = fmt::format("order={},gateway={}", order, gateway);
  v.labels = {{kOrderLabel, order}, {kGatewayLabel, gateway}};
  v.builtin_server = true;
  v.argv = {o.executable,
            "server",
            "--http-address",
            "127.0.0.1:0",
            fmt::format("{}={}", kGatewayFlag, gateway == "on" ? "true" : "false"),
            std::string(kOrderFlag),
            order,
            "--log-format",
            "human"};
  if (!o.websocket_shutdown_timeout.empty()) {
    v.argv.push_back("--websocket-shutdown-timeout");
    v.argv.push_back(o.websocket_shutdown_timeout);
  }
  v.known_timeout_ms = o.websocket_shutdown_timeout_ms.value_or(kDefaultWebsocketShutdownTimeoutMs);
  return v;
}

}  // namespace

Result<std::vector<VariantSpec>> Matrix(const MatrixOptions& o) {
  if (o.orders.empty()) return Error{"--shutdown-order: want patched, unpatched or both"};
  if (o.gateways.empty()) return Error{"--gateway: want on, off or both"};
  std::vector<VariantSpec> variants;
  for (const auto& order : o.orders) {
    if (order != "patched" && order != "unpatched")
      return Error{fmt::format("--shutdown-order: \"{}\" is not patched or unpatched", order)};
    for (const auto& gateway : o.gateways) {
      if (gateway != "on" && gateway != "off") return Error{fmt::format("--gateway: \"{}\" is not on or off", gateway)};
      variants.push_back(MatrixVariant(o, order, gateway));
    }
  }
  return variants;
}

std::vector<std::string> RunArguments(const std::filesystem::path& run_dir) {
  return {"--config-dir", (run_dir / "config").string()};
}

std::optional<std::string> UrlFromReadyLine(std::string_view line) {
  const size_t at = line.find(kReadyLine);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view url = line.substr(at + std::string_view(kReadyLine).size());
  url = url.substr(0, url.find_first_of(" \t\r\n"));
  if (url.substr(0, 7) != "http://") return std::nullopt;
  return std::string(url);
}

std::vector<std::pair<std::string, std::string>> ClientHeaders(const std::filesystem::path& run_dir) {
  std::ifstream in(run_dir / "config" / "session");
  std::string token;
  if (!std::getline(in, token) || token.empty()) return {};
  return {{"Coder-Session-Token", token}};
}

bool HasOrder(const VariantSpec& variant, std::string_view order) {
  const auto it = variant.labels.find(kOrderLabel);
  return it != variant.labels.end() && it->second == order;
}

bool DiffersOnlyInOrder(const VariantSpec& a, const VariantSpec& b) {
  const auto order_a = a.labels.find(kOrderLabel);
  const auto order_b = b.labels.find(kOrderLabel);
  if (order_a == a.labels.end() || order_b == b.labels.end() || order_a->second == order_b->second) return false;
  auto others = [](std::map<std::string, std::string> labels) {
    labels.erase(kOrderLabel);
    return labels;
  };
  return others(a.labels) == others(b.labels);
}

std::map<std::string, std::string> LabelsFromArgv(const std::vector<std::string>& argv) {
  // The server's own defaults (server/options.h), which the matrix always states but older specs may not.
  std::map<std::string, std::string> labels = {{kOrderLabel, "patched"}, {kGatewayLabel, "on"}};
  const std::string order_eq = std::string(kOrderFlag) + "=";
  const std::string gateway_eq = std::string(kGatewayFlag) + "=";
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string_view arg = argv[i];
    if (arg == kOrderFlag && i + 1 < argv.size()) labels[kOrderLabel] = argv[i + 1];
    if (arg.starts_with(order_eq)) labels[kOrderLabel] = std::string(arg.substr(order_eq.size()));
    if (arg == gateway_eq + "true") labels[kGatewayLabel] = "on";
    if (arg == gateway_eq + "false") labels[kGatewayLabel] = "off";
  }
  return labels;
}

}  // namespace coder::harness::builtin
