#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "common/json_dump.h"

namespace coder::server {

/// What a handler sees of an HTTP request: enough to route and answer without Beast types, so
/// handlers outside the HTTP translation unit stay cheap to compile.
struct ApiRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query as sent
  std::string path;    // target without the query
  std::string content_type;
  std::string body;
  std::string remote;  // "127.0.0.1:51234"
};

struct ApiResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;

  /// Invalid UTF-8 (a client's bytes quoted in a message) is replaced, never thrown.
  static ApiResponse Json(unsigned status, const nlohmann::json& j) {
    return {status, "application/json", DumpJson(j)};
  }
  /// Errors always carry a JSON body {"message": ...} so clients can show it as is.
  static ApiResponse Error(unsigned status, std::string_view message) { return Json(status, {{"message", message}}); }
  static ApiResponse Text(unsigned status, std::string text) {
    return {status, "text/plain; charset=utf-8", std::move(text)};
  }
};

}  // namespace coder::server
