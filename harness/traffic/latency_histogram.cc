#include "harness/traffic/latency_histogram.h"

#include <algorithm>
#include <cmath>

namespace coder::harness {
namespace {
constexpr double kFirstEdgeMs = 0.001;
constexpr double kRatio = 1.02;
}  // namespace

size_t LatencyHistogram::BucketOf(double ms) {
  if (!(ms > kFirstEdgeMs)) return 0;
  const double b = std::ceil(std::log(ms / kFirstEdgeMs) / std::log(kRatio));
  return std::min(kBuckets - 1, static_cast<size_t>(b));
}

double LatencyHistogram::UpperEdgeMs(size_t bucket) {
  return kFirstEdgeMs * std::pow(kRatio, static_cast<double>(bucket));
}

void LatencyHistogram::Add(double ms) {
  ++counts_[BucketOf(ms)];
  ++count_;
  max_ms_ = std::max(max_ms_, ms);
}

LatencySummary LatencyHistogram::Summary() const {
  LatencySummary s;
  s.count = count_;
  s.max_ms = max_ms_;
  if (count_ == 0) return s;
  auto at = [&](double q) {
    // The smallest latency with at least q of the samples at or below it (nearest rank).
    const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
    uint64_t seen = 0;
    for (size_t b = 0; b < kBuckets; ++b) {
      seen += counts_[b];
      if (seen >= rank) return std::min(UpperEdgeMs(b), max_ms_);
    }
    return max_ms_;
  };
  s.p50_ms = at(0.50);
  s.p99_ms = at(0.99);
  return s;
}

}  // namespace coder::harness
