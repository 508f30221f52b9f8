#include "harness/experiment/traffic_flags.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <charconv>

#include "common/duration.h"

namespace coder::harness {
namespace {

/// Descriptors the harness keeps for itself and each live target besides the traffic (pipes, pidfd,
/// /proc reads, the report files).
constexpr uint64_t kOwnDescriptors = 256;
constexpr uint64_t kDescriptorsPerTarget = 16;

Status EnsureDescriptors(uint64_t needed) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return Ok{};
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur >= needed) return Ok{};
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed)
    return Error{
        fmt::format("--client/--load: the runs would hold about {} descriptors, over this process's hard "
                    "limit of {} (ulimit -Hn); fewer connections or a lower --parallel",
                    needed, limit.rlim_max)};
  limit.rlim_cur = needed;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0)
    return Error{fmt::format("--client/--load: cannot raise the descriptor limit to {}", needed)};
  return Ok{};
}

}  // namespace

Status ParseTrafficFlags(const TrafficFlags& f, const TrafficContext& context, TrafficSpec& out) {
  out = TrafficSpec{};
  for (const std::string& text : f.clients) {
    auto client = ParseClientFlag(text, context.websocket_path);
    if (!client) return client.error();
    out.clients.push_back(std::move(*client));
  }
  if (!f.load.empty()) {
    auto load = ParseLoadFlag(f.load);
    if (!load) return load.error();
    uint64_t n = 0;
    const auto [end, ec] =
        std::from_chars(f.load_connections.data(), f.load_connections.data() + f.load_connections.size(), n);
    if (ec != std::errc() || end != f.load_connections.data() + f.load_connections.size() || n == 0 || n > 10'000)
      return Error{fmt::format("--load-connections {}: want a whole number from 1 to 10000", f.load_connections)};
    load->connections = static_cast<uint32_t>(n);
    out.load = std::move(*load);
  }
  for (const std::string& text : f.headers) {
    auto header = ParseHeaderFlag(text);
    if (!header) return header.error();
    out.headers.push_back(std::move(*header));
  }
  auto timeout = ParseDuration(f.timeout);
  if (!timeout || *timeout <= Duration::zero())
    return Error{fmt::format("--client-timeout {}: want a positive duration such as 10s", f.timeout)};
  out.establish_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*timeout);
  out.url = f.url;
  if (!out.any()) {
    if (!f.url.empty() || !f.headers.empty())
      return Error{"--client-url and --client-header need traffic to apply to: --client or --load"};
    return Ok{};
  }
  if (!f.url.empty()) {
    // Any valid port stands in for {port} while the shape is checked; each run substitutes its own.
    std::string shape;
    for (size_t from = 0;;) {
      const size_t at = f.url.find("{port}", from);
      shape.append(f.url, from, at == std::string::npos ? std::string::npos : at - from);
      if (at == std::string::npos) break;
      shape += '1';
      from = at + 6;
    }
    if (auto url = ParseClientUrl(shape); !url) return url.error();
  } else if (!context.url_source && !context.builtin_server) {
    return Error{
        "--client/--load: no URL to send the traffic to: give --client-url BASE, a --ready-url, or {port} "
        "in the target's command"};
  }
  const uint64_t live = static_cast<uint64_t>(std::max(1, context.live_targets));
  if (out.held_connections() * live > kMaxTrafficConnections)
    return Error{fmt::format("--client/--load: {} connections a run times {} live targets is over {}",
                             out.held_connections(), live, kMaxTrafficConnections)};
  return EnsureDescriptors(kOwnDescriptors + live * (out.held_connections() + kDescriptorsPerTarget));
}

}  // namespace coder::harness
