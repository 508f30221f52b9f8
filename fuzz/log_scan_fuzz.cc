// What the harness does with a target's output bytes (harness/run.cc, LineState::OnLine): split them
// into bounded lines however the reads fall, keep a bounded tail, and scan each line for fingerprints,
// shutdown-step timings, timeout seconds and held slots.
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "harness/analysis/fingerprint.h"
#include "harness/builtin/builtin_log.h"
#include "harness/process/output_log.h"

namespace {

using coder::fuzz::Escape;
using namespace coder::harness;

struct Line {
  std::string text;
  bool truncated;
  bool operator==(const Line&) const = default;
};

std::vector<Line> SplitAll(std::string_view stream, size_t max_line_bytes, const std::vector<size_t>& reads,
                           uint64_t* truncated_bytes) {
  LineSplitter splitter(max_line_bytes);
  std::vector<Line> lines;
  const LineSplitter::Emit emit = [&](std::string&& text, bool truncated) {
    lines.push_back({std::move(text), truncated});
  };
  size_t at = 0;
  for (size_t n : reads) {
    if (at >= stream.size()) break;
    n = std::min(n, stream.size() - at);
    splitter.Feed(stream.substr(at, n), emit);
    at += n;
  }
  if (at < stream.size()) splitter.Feed(stream.substr(at), emit);
  splitter.Finish(emit);
  *truncated_bytes = splitter.truncated_bytes();
  return lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider provider(data, size);
  const size_t max_line_bytes = provider.ConsumeIntegralInRange<size_t>(1, 512);
  std::vector<size_t> reads;
  for (int i = provider.ConsumeIntegralInRange(0, 8); i > 0; --i)
    reads.push_back(provider.ConsumeIntegralInRange<size_t>(1, 300));
  const std::string user_fingerprint = provider.ConsumeBool() ? provider.ConsumeRandomLengthString(40) : "";
  const std::string stream = provider.ConsumeRemainingBytesAsString();

  // The same bytes read in one piece and in arbitrary pieces give the same lines.
  uint64_t truncated_whole = 0, truncated_pieces = 0;
  const auto lines = SplitAll(stream, max_line_bytes, {}, &truncated_whole);
  const auto pieces = SplitAll(stream, max_line_bytes, reads, &truncated_pieces);
  FUZZ_CHECK(lines == pieces && truncated_whole == truncated_pieces, "line splitting depends on how the reads fall");

  // Every byte is accounted for: kept in a line, a newline, a CR before one, or counted as truncated.
  size_t kept = 0;
  for (const Line& l : lines) {
    FUZZ_CHECK(l.text.size() <= max_line_bytes, std::to_string(l.text.size()) + " > " + std::to_string(max_line_bytes));
    FUZZ_CHECK(l.text.find('\n') == std::string::npos, Escape(l.text));
    FUZZ_CHECK(!l.truncated || l.text.size() == max_line_bytes, "a truncated line is cut at the limit");
    kept += l.text.size();
  }
  size_t newlines = 0, crlf = 0;
  for (size_t i = 0; i < stream.size(); ++i)
    if (stream[i] == '\n') {
      ++newlines;
      if (i > 0 && stream[i - 1] == '\r') ++crlf;
    }
  FUZZ_CHECK(
      kept + newlines + truncated_whole <= stream.size() && stream.size() <= kept + newlines + truncated_whole + crlf,
      "bytes lost or invented: " + std::to_string(stream.size()) + " in, " + std::to_string(kept) + " kept, " +
          std::to_string(truncated_whole) + " truncated");

  // The tail the report keeps stays within its bound.
  LineRing ring(1024);
  for (const Line& l : lines) {
    ring.Push(OutputLine{.text = l.text, .truncated = l.truncated});
    FUZZ_CHECK(ring.retained_bytes() <= 1024 + l.text.size() + LineRing::kLineOverheadBytes, "ring over its bound");
  }

  std::vector<std::string> specs{"panic=panic:|fatal error", "slow-close=took=[0-9.]+s"};
  if (!user_fingerprint.empty()) specs.push_back(user_fingerprint);
  auto fingerprints = FingerprintSet::Create(specs);
  if (!fingerprints) {
    // Only the user's spec can be bad, and the error names it.
    FUZZ_CHECK(!user_fingerprint.empty(), fingerprints.error().message);
    FUZZ_CHECK(fingerprints.error().message.starts_with("invalid --fingerprint"), fingerprints.error().message);
    fingerprints = FingerprintSet::Create({specs[0], specs[1]});
  }
  for (const Line& l : lines) {
    std::set<std::string> matched;
    (*fingerprints)->Scan(l.text, matched);
    if (auto step = builtin::ParseStepLine(l.text)) {
      FUZZ_CHECK(l.text.find("shutdown step done") != std::string::npos, Escape(l.text));
      FUZZ_CHECK(l.text.front() == '{' || (step->ms >= 0 && std::isfinite(step->ms)),
                 "a human step line gave " + std::to_string(step->ms) + " ms: " + Escape(l.text));
    }
    if (auto seconds = (*fingerprints)->TimeoutSeconds(l.text)) {
      FUZZ_CHECK(matched.count(kFpWebsocketTimeout) == 1, "a timeout line the fingerprint missed: " + Escape(l.text));
      FUZZ_CHECK(*seconds >= 0, Escape(l.text));
      builtin::ParseHeldSlots(l.text);
    } else {
      FUZZ_CHECK(matched.count(kFpWebsocketTimeout) == 0, "a fingerprint without its seconds: " + Escape(l.text));
    }
  }
  return 0;
}
