#include "harness/measure/http_probe.h"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <charconv>

namespace coder::harness {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

Result<HttpUrl> ParseHttpUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) return Error{fmt::format("\"{}\" is not an http:// URL", url)};
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  HttpUrl out;
  if (slash != std::string_view::npos) out.target = std::string(rest.substr(slash));
  const auto colon = authority.rfind(':');
  out.host = std::string(authority.substr(0, colon));
  if (colon != std::string_view::npos) {
    const auto port_text = authority.substr(colon + 1);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
      return Error{fmt::format("\"{}\" has no valid port", url)};
    out.port = static_cast<uint16_t>(port);
  }
  if (out.host.empty()) return Error{fmt::format("\"{}\" has no host", url)};
  return out;
}

namespace {

constexpr size_t kMaxProbeHeaderBytes = 16 << 10;

struct ProbeResult {
  unsigned status = 0;
  std::string error;
};

net::awaitable<ProbeResult> Get(HttpUrl url, std::chrono::milliseconds timeout) {
  auto executor = co_await net::this_coro::executor;
  tcp::resolver resolver(executor);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(url.host, std::to_string(url.port), net::as_tuple(net::use_awaitable));
  if (rec) co_return ProbeResult{0, "resolve: " + rec.message()};
  beast::tcp_stream stream(executor);
  stream.expires_after(timeout);
  auto [cec, ep] = co_await stream.async_connect(endpoints, net::as_tuple(net::use_awaitable));
  if (cec) co_return ProbeResult{0, "connect: " + cec.message()};
  http::request<http::empty_body> req{http::verb::get, url.target, 11};
  req.set(http::field::host, url.host);
  req.set(http::field::user_agent, "coder-diag");
  req.keep_alive(false);
  auto [wec, wn] = co_await http::async_write(stream, req, net::as_tuple(net::use_awaitable));
  if (wec) co_return ProbeResult{0, "write: " + wec.message()};
  // The status line is all a probe needs: the body (an endless chunk extension, a flood) is never read,
  // and the header is bounded, so whatever the server sends, the probe holds at most this much.
  beast::flat_buffer buffer(kMaxProbeHeaderBytes);
  http::response_parser<http::empty_body> parser;
  parser.header_limit(kMaxProbeHeaderBytes);
  auto [rdec, rn] = co_await http::async_read_header(stream, buffer, parser, net::as_tuple(net::use_awaitable));
  if (rdec) co_return ProbeResult{0, "read: " + rdec.message()};
  co_return ProbeResult{parser.get().result_int(), ""};
}

}  // namespace

Result<unsigned> HttpGetStatus(const HttpUrl& url, std::chrono::milliseconds timeout) {
  net::io_context ioc;
  auto result = net::co_spawn(ioc, Get(url, timeout), net::use_future);
  ioc.run();
  ProbeResult out = result.get();
  if (!out.error.empty()) return Error{out.error};
  return out.status;
}

}  // namespace coder::harness
