#include "harness/analysis/compare.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <limits>
#include <random>

#include "harness/analysis/stats.h"

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
double Select(std::vector<Sample>& values, size_t rank) {
  auto nth = values.begin() + static_cast<std::ptrdiff_t>(rank - 1);
  std::nth_element(values.begin(), nth, values.end(),
                   [](const Sample& a, const Sample& b) { return a.value < b.value; });
  return nth->value;
}

// An index in [0, n): the high 64 bits of a 64×64-bit product, the same on every standard library.
size_t Draw(std::mt19937_64& rng, size_t n) {
  return static_cast<size_t>((static_cast<unsigned __int128>(rng()) * n) >> 64);
}

void Resample(const std::vector<Sample>& from, std::vector<Sample>& into, std::mt19937_64& rng) {
  for (Sample& v : into) v = from[Draw(rng, from.size())];
}

bool AnyCensored(const std::vector<Sample>& values) {
  return std::any_of(values.begin(), values.end(), [](const Sample& s) { return s.censored; });
}

double Ratio(double variant, double baseline) {
  if (baseline != 0) return variant / baseline;
  return variant == 0 ? 1.0 : std::numeric_limits<double>::infinity();
}

std::vector<Sample> Finite(const std::vector<Sample>& values) {
  std::vector<Sample> out;
  std::copy_if(values.begin(), values.end(), std::back_inserter(out),
               [](const Sample& s) { return std::isfinite(s.value); });
  return out;
}

std::vector<Sample> Uncensored(const std::vector<double>& values) {
  std::vector<Sample> out;
  out.reserve(values.size());
  for (double v : values) out.push_back({v, false});
  return out;
}

// A run the watchdog killed would have stopped no sooner than its recorded latency.
std::vector<Sample> Latencies(const std::vector<RunRecord>& runs) {
  std::vector<Sample> out;
  for (const RunRecord& r : runs)
    if (r.latency_ms) out.push_back({*r.latency_ms, r.watchdog_fired});
  return out;
}

RatioEstimate::Bound BoundOf(bool variant_censored, bool baseline_censored) {
  using Bound = RatioEstimate::Bound;
  if (variant_censored && baseline_censored) return Bound::kIndeterminate;
  if (variant_censored) return Bound::kLowerBound;
  if (baseline_censored) return Bound::kUpperBound;
  return Bound::kEstimate;
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
  return CensoredQuantileRatio(Uncensored(variant), Uncensored(baseline), q, seed);
}

std::optional<RatioEstimate> CensoredQuantileRatio(const std::vector<Sample>& variant,
                                                   const std::vector<Sample>& baseline, double q, uint64_t seed) {
  if (!(q > 0 && q <= 1)) return std::nullopt;
  std::vector<Sample> v = Finite(variant), b = Finite(baseline);
  if (v.empty() || b.empty()) return std::nullopt;
  const auto q_millionths = static_cast<uint64_t>(std::llround(q * kQuantileScale));
  const size_t v_rank = Rank(q_millionths, v.size()), b_rank = Rank(q_millionths, b.size());

  std::vector<Sample> v_work = v, b_work = b;
  const double b_q = Select(b_work, b_rank);
  if (b_q == 0) return std::nullopt;
  RatioEstimate est;
  est.ratio = Select(v_work, v_rank) / b_q;
  const bool v_censored = AnyCensored(v), b_censored = AnyCensored(b);
  est.bound = BoundOf(v_censored && RankIsLowerBound(v, v_rank), b_censored && RankIsLowerBound(b, b_rank));

  std::mt19937_64 rng(seed);
  std::vector<double> ratios(kResamples);
  bool any_v_bound = false, any_b_bound = false;
  for (double& ratio : ratios) {
    Resample(v, v_work, rng);
    Resample(b, b_work, rng);
    ratio = Ratio(Select(v_work, v_rank), Select(b_work, b_rank));
    any_v_bound = any_v_bound || (v_censored && RankIsLowerBound(v_work, v_rank));
    any_b_bound = any_b_bound || (b_censored && RankIsLowerBound(b_work, b_rank));
  }
  std::sort(ratios.begin(), ratios.end());
  est.ci_low = any_b_bound ? 0 : ratios[Rank(25'000, ratios.size()) - 1];
  est.ci_high = any_v_bound ? std::numeric_limits<double>::infinity() : ratios[Rank(975'000, ratios.size()) - 1];
  return est;
}

std::string_view ToString(RatioEstimate::Bound bound) {
  switch (bound) {
    case RatioEstimate::Bound::kEstimate: return "estimate";
    case RatioEstimate::Bound::kLowerBound: return "lower_bound";
    case RatioEstimate::Bound::kUpperBound: return "upper_bound";
    case RatioEstimate::Bound::kIndeterminate: return "indeterminate";
  }
  return "estimate";
}

json RatioEstimate::ToJson() const {
  // JSON has no infinity; nlohmann would write null anyway, say so explicitly.
  auto number = [](double x) { return std::isfinite(x) ? json(x) : json(nullptr); };
  return json{{"ratio", number(ratio)},
              {"ci_low", number(ci_low)},
              {"ci_high", number(ci_high)},
              {"method", method},
              {"bound", std::string(ToString(bound))}};
}

Comparison Compare(const std::string& variant, const std::vector<RunRecord>& variant_runs, const std::string& baseline,
                   const std::vector<RunRecord>& baseline_runs, int suite_stops, double regression_ratio,
                   uint64_t seed) {
  return CompareSamples(variant, {Latencies(variant_runs), TimeoutRate(variant_runs), PeakRss(variant_runs)}, baseline,
                        {Latencies(baseline_runs), TimeoutRate(baseline_runs), PeakRss(baseline_runs)}, suite_stops,
                        regression_ratio, seed);
}

Comparison CompareSamples(const std::string& variant, const ComparedRuns& variant_runs, const std::string& baseline,
                          const ComparedRuns& baseline_runs, int suite_stops, double regression_ratio, uint64_t seed) {
  Comparison c;
  c.variant = variant;
  c.baseline = baseline;
  const std::vector<Sample>& v = variant_runs.latencies;
  const std::vector<Sample>& b = baseline_runs.latencies;
  c.p50_ratio = CensoredQuantileRatio(v, b, 0.5, seed);
  c.p95_ratio = CensoredQuantileRatio(v, b, 0.95, seed);
  c.timeout_rate = variant_runs.timeout_rate;
  c.baseline_timeout_rate = baseline_runs.timeout_rate;
  const Distribution& v_rss = variant_runs.tree_peak_rss;
  const Distribution& b_rss = baseline_runs.tree_peak_rss;
  if (v_rss.n > 0 && b_rss.n > 0) c.peak_rss_ratio = v_rss.p50 / b_rss.p50;
  c.suite_stops = suite_stops;
  // Summarize is all zeros without samples, so a variant with no latency spends 0 s in shutdown.
  const Distribution v_latency = SummarizeCensored(v), b_latency = SummarizeCensored(b);
  c.suite_shutdown_seconds = suite_stops * v_latency.p50 / 1000.0;
  c.baseline_suite_shutdown_seconds = suite_stops * b_latency.p50 / 1000.0;
  c.suite_shutdown_lower_bound = v_latency.IsLowerBound("p50");
  c.baseline_suite_shutdown_lower_bound = b_latency.IsLowerBound("p50");
  // A lower bound over the threshold is a regression whatever the true value; an upper bound is not.
  const bool bounded_below = c.p95_ratio && (c.p95_ratio->bound == RatioEstimate::Bound::kEstimate ||
                                             c.p95_ratio->bound == RatioEstimate::Bound::kLowerBound);
  c.regression = bounded_below && c.p95_ratio->ci_low > regression_ratio;
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
      {"suite_shutdown_lower_bound", suite_shutdown_lower_bound},
      {"baseline_suite_shutdown_lower_bound", baseline_suite_shutdown_lower_bound},
      {"regression", regression},
  };
}

}  // namespace coder::harness
