#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace coder::bench {

/// A server log held in memory: one buffer and a view per line (without its '\n').
struct LogCorpus {
  std::string text;
  std::vector<std::string_view> lines;
  size_t bytes() const { return text.size(); }
};

/// A deterministic, realistic server log of about `bytes` bytes: the built-in server's human lines
/// (timestamp, level, message, key=value fields), request and debug lines of a busy server with
/// varying ids, paths and durations, about one line in eight in the JSON format, the shutdown step
/// lines the harness parses, and a `websocket shutdown timed out` line every ~20000 lines, so a scan
/// pays for real matches as well as for near misses ("websocket" appears in many lines).
LogCorpus BuildLogCorpus(size_t bytes);

}  // namespace coder::bench
