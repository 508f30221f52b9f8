#include "harness/analysis/recurrence.h"

#include <fmt/format.h>

#include <boost/math/distributions/hypergeometric.hpp>
#include <boost/math/special_functions/beta.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

namespace coder::harness {

RateInterval ClopperPearson(Proportion p, double confidence) {
  if (p.runs == 0) return {0, 1};
  const double alpha = 1 - confidence;
  const auto x = static_cast<double>(std::min(p.hits, p.runs));
  const auto n = static_cast<double>(p.runs);
  RateInterval interval;
  // The bounds are beta quantiles: the lower one Beta(x, n - x + 1) at alpha/2, the upper one
  // Beta(x + 1, n - x) at 1 - alpha/2 (the binomial tail as a regularized incomplete beta function).
  interval.lower = x == 0 ? 0.0 : boost::math::ibeta_inv(x, n - x + 1, alpha / 2);
  interval.upper = x == n ? 1.0 : boost::math::ibeta_inv(x + 1, n - x, 1 - alpha / 2);
  return interval;
}

double FisherLowerSince(Proportion before, Proportion since) {
  // Counts read from a history are consistent, but a caller's may not be: hits beyond runs are runs.
  before.hits = std::min(before.hits, before.runs);
  since.hits = std::min(since.hits, since.runs);
  const uint64_t hits = before.hits + since.hits;
  const uint64_t runs = before.runs + since.runs;
  if (before.hits == 0 || before.runs == 0 || since.runs == 0 || hits == 0) return 1.0;
  if (since.hits == 0) {
    // Every hit fell before: P(X >= hits) = P(X = hits) = C(before.runs, hits) / C(runs, hits), in closed
    // form at any size. This is the case a fix is checked in, and CleanRunsToConclude's every step.
    double log_p = 0;
    for (uint64_t k = 0; k < hits; ++k)
      log_p += std::log(static_cast<double>(before.runs - k)) - std::log(static_cast<double>(runs - k));
    return std::clamp(std::exp(log_p), 0.0, 1.0);
  }
  // Boost's distribution computes in unsigned and int (n + r, N + 2): beyond INT_MAX runs it would wrap.
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int>::max()) / 2;
  if (runs > kMax) return 1.0;
  // X: the hits that fall in `before` when `hits` hits are spread over all runs at one rate. Its
  // support starts at max(0, hits - since.runs); P(X >= before.hits) is 1 at or below that start.
  const uint64_t lowest = hits > since.runs ? hits - since.runs : 0;
  if (before.hits <= lowest) return 1.0;
  boost::math::hypergeometric_distribution<double> x(static_cast<unsigned>(hits), static_cast<unsigned>(before.runs),
                                                     static_cast<unsigned>(runs));
  return std::clamp(boost::math::cdf(boost::math::complement(x, static_cast<unsigned>(before.hits - 1))), 0.0, 1.0);
}

std::optional<uint64_t> CleanRunsToConclude(Proportion before, Proportion since, double alpha, uint64_t limit) {
  if (since.hits != 0 || before.hits == 0) return std::nullopt;
  auto concludes = [&](uint64_t more) { return FisherLowerSince(before, {0, since.runs + more}) < alpha; };
  if (concludes(0)) return 0;
  // The p-value falls as clean runs are added: grow a bound until it concludes, then bisect.
  uint64_t low = 0, high = 1;  // !concludes(low), and high is being searched for
  while (!concludes(high)) {
    if (high >= limit) return std::nullopt;
    low = high;
    high = std::min(limit, high * 2);
  }
  while (high - low > 1) {
    const uint64_t mid = low + (high - low) / 2;
    (concludes(mid) ? high : low) = mid;
  }
  return high;
}

RecurrenceCheck CheckRecurrence(Proportion before, Proportion since, double confidence) {
  RecurrenceCheck check;
  check.before = before;
  check.since = since;
  check.confidence = confidence;
  check.before_interval = ClopperPearson(before, confidence);
  check.since_interval = ClopperPearson(since, confidence);
  check.p_value = FisherLowerSince(before, since);
  const double alpha = 1 - confidence;
  if (since.hits > 0) {
    check.verdict = RecurrenceVerdict::kStillRecurring;
  } else if (check.p_value < alpha) {
    check.verdict = RecurrenceVerdict::kStopped;
  } else {
    check.verdict = RecurrenceVerdict::kNotEnoughEvidence;
    check.more_clean_runs = CleanRunsToConclude(before, since, alpha);
  }
  return check;
}

std::string FormatRate(double rate) {
  const double percent = 100 * std::clamp(rate, 0.0, 1.0);
  if (percent == 0) return "0%";
  if (percent == 100) return "100%";
  // One decimal, or as many as two significant digits of the distance from 0% (or from 100%) need, so a
  // bound of 0.000025% is not "0.0%" and 99.97% is not "100.0%". Fixed notation, never an exponent.
  const double distance = std::min(percent, 100 - percent);
  int decimals = 1;
  if (distance < 0.1) decimals = std::min(12, static_cast<int>(std::ceil(-std::log10(distance))) + 1);
  return fmt::format("{:.{}f}%", percent, decimals);
}

}  // namespace coder::harness
