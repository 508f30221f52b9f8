#include "bench/log_corpus.h"

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <random>

namespace coder::bench {
namespace {

constexpr std::array<const char*, 8> kPaths = {"/api/v2/buildinfo",
                                               "/healthz",
                                               "/api/v2/notifications",
                                               "/api/v2/notifications/watch",
                                               "/api/v2/aibridge/openai/v1/chat/completions",
                                               "/api/v2/aibridge/interceptions",
                                               "/api/v2/users/me",
                                               "/api/v2/workspaces?limit=25&offset=0"};
constexpr std::array<const char*, 4> kMethods = {"GET", "GET", "POST", "GET"};
constexpr std::array<int, 6> kStatus = {200, 200, 200, 202, 401, 503};

}  // namespace

LogCorpus BuildLogCorpus(size_t bytes) {
  LogCorpus corpus;
  corpus.text.reserve(bytes + 512);
  std::mt19937_64 rng(42);  // fixed seed: every run scans the same bytes
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  uint64_t line_no = 0;
  std::vector<size_t> ends;
  while (corpus.text.size() < bytes) {
    ++line_no;
    const unsigned ms = static_cast<unsigned>(line_no % 1000);
    const unsigned sec = static_cast<unsigned>((line_no / 1000) % 60);
    const std::string ts = fmt::format("2026-11-24 05:{:02}:{:02}.{:03}", (line_no / 60000) % 60, sec, ms);
    const size_t kind = pick(100);
    std::string line;
    if (line_no % 20000 == 0) {
      line = fmt::format("{} [warn] websocket shutdown timed out after 10 seconds  held=ai-gateway-rpc#1 held_count=1",
                         ts);
    } else if (kind < 12) {  // the JSON log format
      line = fmt::format(
          R"({{"ts":"{}","level":"info","msg":"request served","method":"{}","path":"{}","status":{},"took_ms":{:.3f},"request_id":"{:016x}"}})",
          ts, kMethods[pick(kMethods.size())], kPaths[pick(kPaths.size())], kStatus[pick(kStatus.size())],
          static_cast<double>(pick(50000)) / 1000.0, rng());
    } else if (kind < 60) {
      line = fmt::format(
          "{} [info] {} {} {} {:.2f}ms  remote=127.0.0.1:{} request_id={:016x} user_agent=\"Go-http-client/1.1\"", ts,
          kMethods[pick(kMethods.size())], kPaths[pick(kPaths.size())], kStatus[pick(kStatus.size())],
          static_cast<double>(pick(50000)) / 1000.0, 30000 + pick(30000), rng());
    } else if (kind < 75) {
      line = fmt::format("{} [debug] websocket session {} message delivered  session=ws#{} bytes={} queue_depth={}", ts,
                         pick(2) ? "notification" : "heartbeat", pick(5000), 64 + pick(4000), pick(16));
    } else if (kind < 85) {
      line = fmt::format(
          "{} [debug] AI gateway interception recorded  id={:016x} provider=openai model=gpt-4o-mini "
          "input_tokens={} output_tokens={}",
          ts, rng(), pick(4000), pick(2000));
    } else if (kind < 92) {
      line = fmt::format("{} [info] shutdown step done  step=api-drain took={:.1f}µs took_ms={:.3f} completed=true", ts,
                         static_cast<double>(pick(1000)), static_cast<double>(pick(1000)) / 1000.0);
    } else if (kind < 97) {
      line = fmt::format(
          "{} [warn] websocket connection closed abnormally  session=ws#{} reason=\"connection reset by peer\"", ts,
          pick(5000));
    } else {
      line = fmt::format(
          "{} [error] upstream request failed: dial tcp 10.0.{}.{}:443: connect: connection refused  "
          "attempt={} backoff={}ms",
          ts, pick(255), pick(255), 1 + pick(6), 10 << pick(8));
    }
    corpus.text += line;
    ends.push_back(corpus.text.size());
    corpus.text += '\n';
  }
  // Views are taken once the buffer has stopped growing.
  size_t begin = 0;
  corpus.lines.reserve(ends.size());
  for (size_t end : ends) {
    corpus.lines.emplace_back(corpus.text.data() + begin, end - begin);
    begin = end + 1;
  }
  return corpus;
}

}  // namespace coder::bench
