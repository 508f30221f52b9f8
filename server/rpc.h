#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/system/error_code.hpp>
#include <nlohmann/json.hpp>

#include <utility>

namespace coder::server::rpc {

// The in-memory RPC session between the AI gateway daemon and the API: a socketpair carrying frames of
// a 4-byte big-endian length followed by that many bytes of JSON. A call carries an "id" that its reply
// echoes: a client matches replies by id, so a call that failed or timed out never leaves a reply that
// would answer the next one.

using Socket = boost::asio::local::stream_protocol::socket;
inline constexpr size_t kMaxFrameBytes = 1 << 20;

/// Reads one frame. At a clean end of stream the error is boost::asio::error::eof; an oversized or
/// malformed frame is errc::bad_message. Not thread-safe: one reader at a time per socket.
boost::asio::awaitable<std::pair<boost::system::error_code, nlohmann::json>> ReadFrame(Socket& socket);

/// Writes one frame. Not thread-safe: one writer at a time per socket.
boost::asio::awaitable<boost::system::error_code> WriteFrame(Socket& socket, const nlohmann::json& message);

}  // namespace coder::server::rpc
