#include "server/rpc.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstdint>

#include "common/json_dump.h"

namespace coder::server::rpc {

namespace net = boost::asio;
using boost::system::error_code;

net::awaitable<std::pair<error_code, nlohmann::json>> ReadFrame(Socket& socket) {
  std::array<uint8_t, 4> header{};
  auto [ec, n] = co_await net::async_read(socket, net::buffer(header), net::as_tuple(net::use_awaitable));
  if (ec) co_return std::pair{ec, nlohmann::json()};
  const uint32_t size =
      (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) | (uint32_t{header[2]} << 8) | uint32_t{header[3]};
  if (size > kMaxFrameBytes) co_return std::pair{make_error_code(boost::system::errc::bad_message), nlohmann::json()};
  std::string payload(size, '\0');
  auto [ec2, n2] = co_await net::async_read(socket, net::buffer(payload), net::as_tuple(net::use_awaitable));
  if (ec2) co_return std::pair{ec2, nlohmann::json()};
  auto message = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded()) co_return std::pair{make_error_code(boost::system::errc::bad_message), nlohmann::json()};
  co_return std::pair{error_code(), std::move(message)};
}

net::awaitable<error_code> WriteFrame(Socket& socket, const nlohmann::json& message) {
  // Records carry request paths, a client's bytes: invalid UTF-8 is replaced rather than thrown.
  const std::string payload = DumpJson(message);
  if (payload.size() > kMaxFrameBytes) co_return make_error_code(boost::system::errc::message_size);
  const auto size = static_cast<uint32_t>(payload.size());
  std::array<uint8_t, 4> header{static_cast<uint8_t>(size >> 24), static_cast<uint8_t>(size >> 16),
                                static_cast<uint8_t>(size >> 8), static_cast<uint8_t>(size)};
  std::array<net::const_buffer, 2> buffers{net::buffer(header), net::buffer(payload)};
  auto [ec, n] = co_await net::async_write(socket, buffers, net::as_tuple(net::use_awaitable));
  co_return ec;
}

}  // namespace coder::server::rpc
