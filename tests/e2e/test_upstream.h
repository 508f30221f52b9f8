#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace coder::e2e {

/// An OpenAI-style upstream on 127.0.0.1 for the AI gateway to proxy to: answers every request with a
/// fixed JSON completion, records what it received, and can hold its answers until released (to keep a
/// request in flight across a shutdown). Thread-safe; the destructor releases, stops and joins.
class TestUpstream {
 public:
  struct Received {
    std::string method;
    std::string target;
    std::string body;
  };
  static constexpr const char* kReplyBody = R"({"id":"chatcmpl-test","object":"chat.completion","choices":[]})";

  TestUpstream();
  ~TestUpstream();

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void HoldReplies();
  /// From now on every answer is preceded by interim ones (100 Continue, 103 Early Hints).
  void SendInterimResponses();
  void Release();
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout);
  std::vector<Received> received() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace coder::e2e
