#include "harness/analysis/stats.h"

#include "harness/analysis/variant_tally.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <set>
#include <string_view>

#include "common/duration.h"

namespace coder::harness {
namespace {

using nlohmann::json;

// Nearest rank with integer arithmetic: ceil(p * n / 100) computed exactly, so p50 of 10 samples is
// the 5th and never the 6th through a rounding error in 0.5 * 10.
double NearestRank(const std::vector<double>& sorted, size_t percent) {
  const size_t rank = std::max<size_t>(1, (percent * sorted.size() + 99) / 100);
  return sorted[rank - 1];
}

json Counts(const std::map<std::string, size_t>& counts) {
  json out = json::object();
  for (const auto& [name, n] : counts) out[name] = n;
  return out;
}

}  // namespace

Distribution Summarize(std::vector<double> values) {
  std::vector<Sample> samples;
  samples.reserve(values.size());
  for (double v : values) samples.push_back({v, false});
  return SummarizeCensored(std::move(samples));
}

bool RankIsLowerBound(const std::vector<Sample>& samples, size_t rank) {
  std::vector<double> values;
  values.reserve(samples.size());
  for (const Sample& s : samples) values.push_back(s.value);
  auto nth = values.begin() + static_cast<std::ptrdiff_t>(rank - 1);
  std::nth_element(values.begin(), nth, values.end());
  const double at = *nth;
  const auto known =
      std::count_if(samples.begin(), samples.end(), [at](const Sample& s) { return !s.censored && s.value <= at; });
  return static_cast<size_t>(known) < rank;
}

Distribution SummarizeCensored(std::vector<Sample> samples) {
  std::erase_if(samples, [](const Sample& s) { return !std::isfinite(s.value); });
  Distribution d;
  d.n = samples.size();
  if (samples.empty()) return d;
  std::vector<double> values;
  values.reserve(samples.size());
  for (const Sample& s : samples) {
    values.push_back(s.value);
    if (s.censored) ++d.censored;
  }
  std::sort(values.begin(), values.end());
  d.min = values.front();
  d.max = values.back();
  d.p50 = NearestRank(values, 50);
  d.p95 = NearestRank(values, 95);
  d.p99 = NearestRank(values, 99);
  d.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  if (d.censored == 0) return d;
  auto rank = [&](size_t percent) { return std::max<size_t>(1, (percent * values.size() + 99) / 100); };
  const std::pair<const char*, size_t> ranks[] = {
      {"min", 1}, {"p50", rank(50)}, {"p95", rank(95)}, {"p99", rank(99)}, {"max", values.size()}};
  for (const auto& [name, r] : ranks)
    if (RankIsLowerBound(samples, r)) d.lower_bounds.push_back(name);
  d.lower_bounds.push_back("mean");  // one unbounded value moves the mean
  return d;
}

bool Distribution::IsLowerBound(std::string_view stat) const {
  return std::find(lower_bounds.begin(), lower_bounds.end(), stat) != lower_bounds.end();
}

json Distribution::ToJson() const {
  auto stat = [this](double v) { return n == 0 ? json(nullptr) : json(v); };
  return json{{"n", n},
              {"min", stat(min)},
              {"p50", stat(p50)},
              {"p95", stat(p95)},
              {"p99", stat(p99)},
              {"max", stat(max)},
              {"mean", stat(mean)},
              {"censored", censored},
              {"lower_bounds", lower_bounds}};
}

std::string FixedTail::Describe() const {
  auto ms_text = [](double v) { return FormatDuration(std::chrono::nanoseconds(std::llround(v * 1e6))); };
  return fmt::format("stops cluster at {} ({} of {} runs within {})", ms_text(ms), runs, of, ms_text(high_ms - low_ms));
}

json FixedTail::ToJson() const {
  return json{{"ms", ms},     {"low_ms", low_ms}, {"high_ms", high_ms}, {"window_ms", window_ms},
              {"runs", runs}, {"of", of}};
}

std::optional<FixedTail> FindFixedTail(std::vector<double> latencies_ms) {
  std::erase_if(latencies_ms, [](double v) { return !std::isfinite(v); });
  std::sort(latencies_ms.begin(), latencies_ms.end());
  const size_t n = latencies_ms.size();
  size_t best_start = 0, best_count = 0;
  for (size_t i = 0; i < n; ++i) {
    const double low = latencies_ms[i];
    if (low < kFixedTailMinMs) continue;
    const double high = low + std::max(kFixedTailMinWindowMs, low / 100);
    const auto end = std::upper_bound(latencies_ms.begin() + static_cast<std::ptrdiff_t>(i), latencies_ms.end(), high);
    const auto count = static_cast<size_t>(end - latencies_ms.begin()) - i;
    if (count > best_count) {
      best_start = i;
      best_count = count;
    }
  }
  if (best_count < 2 || 2 * best_count < n) return std::nullopt;
  FixedTail t;
  t.low_ms = latencies_ms[best_start];
  t.high_ms = latencies_ms[best_start + best_count - 1];
  t.ms = latencies_ms[best_start + (best_count + 1) / 2 - 1];
  t.window_ms = std::max(kFixedTailMinWindowMs, t.low_ms / 100);
  t.runs = best_count;
  t.of = n;
  return t;
}

std::optional<FixedTail> FindFixedTailInRuns(const std::vector<RunRecord>& runs) {
  std::vector<double> latencies;
  for (const RunRecord& r : runs)
    if (r.latency_ms && !r.watchdog_fired) latencies.push_back(*r.latency_ms);
  return FindFixedTail(std::move(latencies));
}

json VariantSummary::ToJson() const {
  json outcome_counts = json::object();
  for (Outcome o : kAllOutcomes) {
    auto it = outcomes.find(o);
    outcome_counts[std::string(ToString(o))] = it == outcomes.end() ? 0 : it->second;
  }
  return json{
      {"variant", variant},
      {"gated", gated},
      {"baseline", baseline},
      {"runs", runs},
      {"outcomes", std::move(outcome_counts)},
      {"findings", findings},
      {"latency_ms", latency_ms.ToJson()},
      {"ready_ms", ready_ms.ToJson()},
      {"tree_peak_rss_bytes", tree_peak_rss_bytes.ToJson()},
      {"kernel_peak_rss_bytes", kernel_peak_rss_bytes.ToJson()},
      {"fingerprints", Counts(fingerprints)},
      {"dominant_step", dominant_step ? json{{"name", dominant_step->name}, {"ms", dominant_step->ms}} : json(nullptr)},
      {"held_slots", Counts(held_slots)},
      {"fixed_tail", fixed_tail ? fixed_tail->ToJson() : json(nullptr)},
      {"traffic", traffic ? traffic->ToJson() : json(nullptr)},
  };
}

VariantSummary SummarizeVariant(const VariantSpec& spec, const std::vector<RunRecord>& runs) {
  VariantTally tally(spec);
  for (const RunRecord& r : runs) tally.Add(r);
  return tally.Summary();
}

}  // namespace coder::harness
