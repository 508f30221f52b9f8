// Arbitrary bytes sent to the real HTTP API (HttpApi, in process, on 127.0.0.1, with the server's
// default limits) on a fresh connection that is then half-closed. The server must answer the first
// request as a reference Beast parser with the same limits classifies it: a complete request gets a
// well-formed response (errors with a JSON {"message"} body, never a 500), too-large headers 431 (or 400
// when they are malformed too), a too-large body 413, malformed bytes 400, and an unfinished request no
// answer; then it closes the connection within 20 s.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_check.h"
#include "server/http_api.h"
#include "server/log.h"
#include "server/notifications.h"

namespace {

namespace http = boost::beast::http;
using coder::fuzz::Escape;
using coder::server::HttpApi;

constexpr const char* kToken = "fuzz-session-token";

/// One server for the whole fuzzing process, on its own io thread; never destroyed (the process exits).
struct Server {
  Server() {
    const auto dir = std::filesystem::temp_directory_path() / ("coder-fuzz-http-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    log = new coder::server::Logger(coder::server::LogFormat::kHuman, ::open("/dev/null", O_WRONLY | O_CLOEXEC));
    notifications = new coder::server::NotificationsManager(nullptr, 64, *log);
    api = new HttpApi(ioc, HttpApi::Config{.session_token = kToken}, *notifications, *log);
    config = HttpApi::Config{};
    port = api->Listen("127.0.0.1", 0).value();
    api->StartAccepting();
    io = std::thread([this] { ioc.run(); });
  }
  boost::asio::io_context ioc;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{ioc.get_executor()};
  coder::server::Logger* log;
  coder::server::NotificationsManager* notifications;
  HttpApi* api;
  HttpApi::Config config;
  uint16_t port;
  std::thread io;
};

Server& TheServer() {
  static Server* server = new Server();
  return *server;
}

std::string Exchange(const Server& server, std::string_view request) {
  const uint16_t port = server.port;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FUZZ_CHECK(fd >= 0, "socket");
  timeval timeout{.tv_sec = 20, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = {htonl(INADDR_LOOPBACK)}};
  FUZZ_CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0, "connect");
  // The server may answer and close before reading everything (an error mid-request): a reset then is fine.
  for (size_t at = 0; at < request.size();) {
    const ssize_t n = ::send(fd, request.data() + at, request.size() - at, MSG_NOSIGNAL);
    if (n <= 0) break;
    at += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string reply;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      FUZZ_CHECK(errno == ECONNRESET, "the server neither answered nor closed within 20 s (" +
                                          std::to_string(reply.size()) + " bytes read): " + Escape(request) +
                                          "\nserver state:\n" + server.api->DumpState());
      break;
    }
    reply.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return reply;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Server& server = TheServer();
  const std::string_view request(reinterpret_cast<const char*>(data), size);

  // How the server should see the first request: the same parser and limits, all bytes, then EOF.
  const size_t max_header = server.config.max_header_bytes;
  http::request_parser<http::string_body> reference;
  reference.header_limit(static_cast<uint32_t>(max_header));
  reference.body_limit(server.config.max_body_bytes);
  // Not eager: the first put ends with the header, so `used` then is the header's size.
  reference.eager(false);
  boost::system::error_code ec;
  size_t used = 0;
  std::optional<size_t> header_bytes;  // the whole header's, request line included, once parsed
  while (used < request.size() && !reference.is_done()) {
    const size_t n = reference.put(boost::asio::buffer(request.data() + used, request.size() - used), ec);
    used += n;
    if (!header_bytes && reference.is_header_done()) {
      header_bytes = used;
      // The server's own rule, applied as soon as it has the header (RFC 9112 6.1): a Transfer-Encoding
      // whose final coding is not chunked, or any in HTTP/1.0, leaves the body's length unknown: 400
      // (found by fuzz/http_request: an HTTP/1.0 chunked request with a cut trailer).
      const auto& header = reference.get();
      if (header.count(http::field::transfer_encoding) > 0 && (!reference.chunked() || header.version() < 11)) {
        ec = http::error::bad_transfer_encoding;
        break;
      }
    }
    if (ec || n == 0) break;
  }
  // The server's limit is on the whole header, its request line included, where Beast applies
  // header_limit to the fields after that line: a header past the limit by less than its request line
  // passes Beast, and the server rightly answers it 431, finished or not (found by fuzz/http_request: a
  // 16 406-byte unfinished header). An unfinished one past the limit is too large whatever would follow.
  const bool header_over_limit = header_bytes ? *header_bytes > max_header : request.size() > max_header;
  if (header_over_limit && (!ec || ec == http::error::need_more)) ec = http::error::header_limit;
  if (ec == http::error::need_more || (!ec && !reference.is_done())) {
    ec = {};
    if (reference.got_some()) reference.put_eof(ec);
    else ec = http::error::end_of_stream;
  }

  const std::string reply = Exchange(server, request);

  if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
    FUZZ_CHECK(reply.empty(), "an unfinished request was answered: " + Escape(reply));
    return 0;
  }
  FUZZ_CHECK(!reply.empty(), "no answer to " +
                                 (ec ? "a bad request (" + ec.message() + ")" : std::string("a request")) + ": " +
                                 Escape(request));
  http::response_parser<http::string_body> response;
  response.body_limit(boost::none);
  boost::system::error_code rec;
  response.put(boost::asio::buffer(reply), rec);
  FUZZ_CHECK(!rec || rec == http::error::need_more, "a malformed response: " + rec.message() + ": " + Escape(reply));
  FUZZ_CHECK(response.is_header_done(), "a truncated response: " + Escape(reply));
  const unsigned status = response.get().result_int();
  // A 500 means a handler threw: never the client's fault, whatever it sent.
  FUZZ_CHECK(status != 500, "500 for: " + Escape(request) + "\n" + Escape(response.get().body()));
  // A header both too large and malformed may get either answer, depending on where the reads split it.
  if (ec == http::error::header_limit || (ec && header_over_limit))
    FUZZ_CHECK(status == 431 || status == 400, ec.message() + " answered " + std::to_string(status));
  else if (ec == http::error::body_limit) FUZZ_CHECK(status == 413, std::to_string(status));
  else if (ec) FUZZ_CHECK(status == 400, ec.message() + " answered " + std::to_string(status));

  // Our errors always carry {"message": "..."}; a WebSocket handshake refusal is Beast's own text.
  const bool upgrade = !ec && boost::beast::websocket::is_upgrade(reference.get());
  if (status >= 400 && !upgrade && response.is_done()) {
    const auto body = nlohmann::json::parse(response.get().body(), nullptr, false);
    FUZZ_CHECK(body.is_object() && body.contains("message") && body["message"].is_string(),
               "error body is not {\"message\"}: " + Escape(response.get().body()));
  }
  return 0;
}
