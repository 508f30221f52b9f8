#include "harness/traffic/traffic_spec.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "common/enum_names.h"

namespace coder::harness {
namespace {

constexpr std::pair<ClientKind, std::string_view> kKindNames[] = {
    {ClientKind::kIdle, "idle"},
    {ClientKind::kSilent, "silent"},
    {ClientKind::kInflight, "inflight"},
    {ClientKind::kWebsocket, "websocket"},
};

/// A request path as it goes on the request line: it starts with "/" and holds no blank or control
/// character (which would split or end the line).
Result<std::string> ParsePath(std::string_view text, std::string_view flag) {
  if (text.empty()) return std::string("/");
  if (text.front() != '/') return Error{fmt::format("{}: the path \"{}\" must start with /", flag, text)};
  for (unsigned char c : text)
    if (c <= ' ' || c == 0x7f)
      return Error{fmt::format("{}: the path \"{}\" holds a blank or control character", flag, text)};
  return std::string(text);
}

bool IsTokenChar(unsigned char c) {
  static constexpr std::string_view kSeparators = "()<>@,;:\\\"/[]?={} \t";
  return c > ' ' && c < 0x7f && kSeparators.find(static_cast<char>(c)) == std::string_view::npos;
}

}  // namespace

std::string_view ToString(ClientKind kind) { return NameIn(kKindNames, kind); }
std::optional<ClientKind> ClientKindFromString(std::string_view text) { return ValueNamed(kKindNames, text); }

uint64_t TrafficSpec::held_connections() const {
  uint64_t n = load ? load->connections : 0;
  for (const auto& c : clients) n += c.count;
  return n;
}

Result<ClientSpec> ParseClientFlag(std::string_view text, std::string_view websocket_path) {
  const auto usage = [&](std::string_view why) {
    return Error{fmt::format("--client \"{}\": {} (KIND:COUNT[:PATH], KIND one of idle, silent, inflight, websocket)",
                             text, why)};
  };
  const size_t first = text.find(':');
  if (first == std::string_view::npos) return usage("no COUNT");
  ClientSpec spec;
  const auto kind = ClientKindFromString(text.substr(0, first));
  if (!kind) return usage(fmt::format("unknown kind \"{}\"", text.substr(0, first)));
  spec.kind = *kind;
  const size_t second = text.find(':', first + 1);
  const std::string_view count =
      text.substr(first + 1, second == std::string_view::npos ? std::string_view::npos : second - first - 1);
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), n);
  if (ec != std::errc() || end != count.data() + count.size() || n == 0 || n > kMaxTrafficConnections)
    return usage(fmt::format("COUNT \"{}\" is not a whole number from 1 to {}", count, kMaxTrafficConnections));
  spec.count = static_cast<uint32_t>(n);
  if (second != std::string_view::npos) {
    auto path = ParsePath(text.substr(second + 1), "--client");
    if (!path) return path.error();
    spec.path = std::move(*path);
  } else if (spec.kind == ClientKind::kWebsocket) {
    spec.path = websocket_path;
  }
  return spec;
}

Result<LoadSpec> ParseLoadFlag(std::string_view text) {
  const auto usage = [&](std::string_view why) {
    return Error{fmt::format("--load \"{}\": {} (RATE/s:PATH, e.g. 500/s:/healthz, or max:PATH)", text, why)};
  };
  const size_t colon = text.find(':');
  const std::string_view rate = text.substr(0, colon);
  LoadSpec spec;
  if (rate != "max") {
    if (rate.size() < 3 || rate.substr(rate.size() - 2) != "/s") return usage("the rate must end in /s");
    const std::string number(rate.substr(0, rate.size() - 2));
    char* end = nullptr;
    const double r = std::strtod(number.c_str(), &end);
    if (number.empty() || end != number.c_str() + number.size() || !std::isfinite(r) || r <= 0 || r > 10'000'000)
      return usage(fmt::format("\"{}\" is not a rate from above 0 to 10000000 per second", number));
    spec.rate_per_s = r;
  }
  if (colon != std::string_view::npos) {
    auto path = ParsePath(text.substr(colon + 1), "--load");
    if (!path) return path.error();
    spec.path = std::move(*path);
  }
  return spec;
}

Result<std::pair<std::string, std::string>> ParseHeaderFlag(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return Error{fmt::format("--client-header \"{}\": expected NAME:VALUE", text)};
  const std::string_view name = text.substr(0, colon);
  for (unsigned char c : name)
    if (!IsTokenChar(c)) return Error{fmt::format("--client-header \"{}\": \"{}\" is not a header name", text, name)};
  std::string_view value = text.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  for (unsigned char c : value)
    if ((c < ' ' && c != '\t') || c == 0x7f)
      return Error{fmt::format("--client-header \"{}\": the value holds a control character", name)};
  return std::pair<std::string, std::string>(name, value);
}

Result<ClientUrl> ParseClientUrl(std::string_view text) {
  std::string_view rest = text;
  std::string default_port;
  if (rest.substr(0, 7) == "http://") rest.remove_prefix(7), default_port = "80";
  else if (rest.substr(0, 5) == "ws://") rest.remove_prefix(5), default_port = "80";
  else return Error{fmt::format("--client-url \"{}\": only http:// (or ws://) URLs are supported", text)};
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos)
    return Error{fmt::format("--client-url \"{}\": user information is not supported", text)};
  ClientUrl url;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Error{fmt::format("--client-url \"{}\": unclosed [", text)};
    url.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return Error{fmt::format("--client-url \"{}\": junk after ]", text)};
      port = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (url.host.empty()) return Error{fmt::format("--client-url \"{}\": no host", text)};
  if (port.empty()) {
    url.port = default_port;
  } else {
    unsigned n = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (ec != std::errc() || end != port.data() + port.size() || n == 0 || n > 65535)
      return Error{fmt::format("--client-url \"{}\": \"{}\" is not a port", text, port)};
    url.port = std::string(port);
  }
  return url;
}

std::string OriginOf(std::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  const size_t end = url.find_first_of("/?#", scheme + 3);
  return std::string(url.substr(0, end));
}

}  // namespace coder::harness
