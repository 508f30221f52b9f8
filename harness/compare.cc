#include "harness/compare.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <limits>
#include <random>

#include "harness/stats.h"

namespace coder::harness {
namespace {

using nlohmann::json;

constexpr int kResamples = 2000;
constexpr uint64_t kQuantileScale = 1'000'000;

// Nearest rank, ceil(q × n) in integers so that 0.95 × 20 is exactly 19 (as stats.cc does for percents).
size_t Rank(uint64_t q_millionths, size_t n) {
  const auto rank = static_cast<size_t>((q_millionths * n + kQuantileScale - 1) / kQuantileScale);
  return std::clamp<size_t>(rank, 1, n);
}

// The value of the given rank; reorders `values`.
double Select(std::vector<double>& values, size_t rank) {
  auto nth = values.begin() + static_cast<std::ptrdiff_t>(rank - 1);
  std::nth_element(values.begin(), nth, values.end());
  return *nth;
}

// An index in [0, n): the high 64 bits of a 64×64-bit product, the same on every standard library.
size_t Draw(std::mt19937_64& rng, size_t n) {
  return static_cast<size_t>((static_cast<unsigned __int128>(rng()) * n) >> 64);
}

void Resample(const std::vector<double>& from, std::vector<double>& into, std::mt19937_64& rng) {
  for (double& v : into) v = from[Draw(rng, from.size())];
}

double Ratio(double variant, double baseline) {
  if (baseline != 0) return variant / baseline;
  return variant == 0 ? 1.0 : std::numeric_limits<double>::infinity();
}

std::vector<double> Finite(const std::vector<double>& values) {
  std::vector<double> out;
  std::copy_if(values.begin(), values.end(), std::back_inserter(out), [](double v) { return std::isfinite(v); });
  return out;
}

std::vector<double> Latencies(const std::vector<RunRecord>& runs) {
  std::vector<double> out;
  for (const RunRecord& r : runs)
    if (r.latency_ms) out.push_back(*r.latency_ms);
  return out;
}

double TimeoutRate(const std::vector<RunRecord>& runs) {
  if (runs.empty()) return 0;
  const auto n = std::count_if(runs.begin(), runs.end(),
                               [](const RunRecord& r) { return r.outcome == Outcome::kTimeoutFingerprint; });
  return static_cast<double>(n) / static_cast<double>(runs.size());
}

Distribution PeakRss(const std::vector<RunRecord>& runs) {
  std::vector<double> values;
  for (const RunRecord& r : runs)
    if (r.tree_peak_rss_bytes > 0) values.push_back(static_cast<double>(r.tree_peak_rss_bytes));
  return Summarize(std::move(values));
}

json OrNull(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

}  // namespace

std::optional<RatioEstimate> QuantileRatio(const std::vector<double>& variant, const std::vector<double>& baseline,
                                           double q, uint64_t seed) {
  if (!(q > 0 && q <= 1)) return std::nullopt;
  std::vector<double> v = Finite(variant), b = Finite(baseline);
  if (v.empty() || b.empty()) return std::nullopt;
  const auto q_millionths = static_cast<uint64_t>(std::llround(q * kQuantileScale));
  const size_t v_rank = Rank(q_millionths, v.size()), b_rank = Rank(q_millionths, b.size());

  std::vector<double> v_work = v, b_work = b;
  const double b_q = Select(b_work, b_rank);
  if (b_q == 0) return std::nullopt;
  RatioEstimate est;
  est.ratio = Select(v_work, v_rank) / b_q;

  std::mt19937_64 rng(seed);
  std::vector<double> ratios(kResamples);
  for (double& ratio : ratios) {
    Resample(v, v_work, rng);
    Resample(b, b_work, rng);
    ratio = Ratio(Select(v_work, v_rank), Select(b_work, b_rank));
  }
  std::sort(ratios.begin(), ratios.end());
  est.ci_low = ratios[Rank(25'000, ratios.size()) - 1];
  est.ci_high = ratios[Rank(975'000, ratios.size()) - 1];
  return est;
}

json RatioEstimate::ToJson() const {
  // JSON has no infinity; nlohmann would write null anyway, say so explicitly.
  auto number = [](double x) { return std::isfinite(x) ? json(x) : json(nullptr); };
  return json{{"ratio", number(ratio)}, {"ci_low", number(ci_low)}, {"ci_high", number(ci_high)}, {"method", method}};
}

Comparison Compare(const std::string& variant, const std::vector<RunRecord>& variant_runs,
                   const std::string& baseline, const std::vector<RunRecord>& baseline_runs, int suite_stops,
                   double regression_ratio, uint64_t seed) {
  Comparison c;
  c.variant = variant;
  c.baseline = baseline;
  const std::vector<double> v = Latencies(variant_runs), b = Latencies(baseline_runs);
  c.p50_ratio = QuantileRatio(v, b, 0.5, seed);
  c.p95_ratio = QuantileRatio(v, b, 0.95, seed);
  c.timeout_rate = TimeoutRate(variant_runs);
  c.baseline_timeout_rate = TimeoutRate(baseline_runs);
  const Distribution v_rss = PeakRss(variant_runs), b_rss = PeakRss(baseline_runs);
  if (v_rss.n > 0 && b_rss.n > 0) c.peak_rss_ratio = v_rss.p50 / b_rss.p50;
  c.suite_stops = suite_stops;
  // Summarize is all zeros without samples, so a variant with no latency spends 0 s in shutdown.
  c.suite_shutdown_seconds = suite_stops * Summarize(v).p50 / 1000.0;
  c.baseline_suite_shutdown_seconds = suite_stops * Summarize(b).p50 / 1000.0;
  c.regression = c.p95_ratio && c.p95_ratio->ci_low > regression_ratio;
  return c;
}

json Comparison::ToJson() const {
  auto ratio = [](const std::optional<RatioEstimate>& r) { return r ? r->ToJson() : json(nullptr); };
  return json{
      {"variant", variant},
      {"baseline", baseline},
      {"p50_ratio", ratio(p50_ratio)},
      {"p95_ratio", ratio(p95_ratio)},
      {"timeout_rate", timeout_rate},
      {"baseline_timeout_rate", baseline_timeout_rate},
      {"peak_rss_ratio", OrNull(peak_rss_ratio)},
      {"suite_stops", suite_stops},
      {"suite_shutdown_seconds", suite_shutdown_seconds},
      {"baseline_suite_shutdown_seconds", baseline_suite_shutdown_seconds},
      {"regression", regression},
  };
}

}  // namespace coder::harness
