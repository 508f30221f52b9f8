#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/result.h"

namespace coder::harness {

struct HttpUrl {
  std::string host;
  uint16_t port = 80;
  std::string target = "/";
};

/// Parses an http:// URL (no TLS). An Error says what is wrong.
Result<HttpUrl> ParseHttpUrl(const std::string& url);

/// One GET with a deadline on the whole exchange. Returns the status code once the response's header
/// is read (at most 16 KiB; the body is never read), or an Error (refused, timed out, not HTTP, a header
/// over the limit). Thread-safe: each call has its own io_context.
Result<unsigned> HttpGetStatus(const HttpUrl& url, std::chrono::milliseconds timeout);

}  // namespace coder::harness
