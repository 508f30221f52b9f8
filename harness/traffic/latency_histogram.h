#pragma once

#include <array>
#include <cstdint>

#include "harness/traffic/traffic_record.h"

namespace coder::harness {

/// Request latencies in fixed memory: log-spaced buckets, 2% wide, from 1 µs to about 17 minutes (a
/// latency past either end lands in the end bucket), so a load of any length is summarised in 8 KiB.
/// A percentile is the upper edge of its bucket: at most 2% above the true value. Not thread-safe.
class LatencyHistogram {
 public:
  void Add(double ms);
  LatencySummary Summary() const;

 private:
  static constexpr size_t kBuckets = 1050;
  static size_t BucketOf(double ms);
  static double UpperEdgeMs(size_t bucket);
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  double max_ms_ = 0;
};

}  // namespace coder::harness
