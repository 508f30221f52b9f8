#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace coder::harness {

/// How often something happened: `hits` of `runs` (hits <= runs).
struct Proportion {
  uint64_t hits = 0;
  uint64_t runs = 0;
  double rate() const { return runs == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(runs); }
};

/// A two-sided confidence interval on a rate, in [0, 1].
struct RateInterval {
  double lower = 0;
  double upper = 1;
};

/// The Clopper–Pearson ("exact") interval of `p.rate()` at `confidence`: the rates whose binomial tails
/// hold `p.hits` with at least (1 - confidence) / 2 each. Never narrower than it should be, whatever the
/// number of runs, which is what a claim like "stopped" needs (a normal approximation is too narrow at
/// rates near 0). With no runs, [0, 1]. Pure; thread-safe.
RateInterval ClopperPearson(Proportion p, double confidence = 0.95);

/// The one-sided p-value of Fisher's exact test that the rate `since` is lower than `before`: the
/// probability, with both rows' run counts and the total hits fixed, that `before` holds at least the
/// hits it holds if the rate never changed (the hypergeometric upper tail). 1 when there is nothing to
/// compare (no hits at all, or an empty row), and beyond a billion runs with hits since (Boost's
/// distribution would overflow); exact at any size when no run since hit. Pure; thread-safe.
double FisherLowerSince(Proportion before, Proportion since);

/// The answer to "has it stopped recurring since the fix?".
enum class RecurrenceVerdict {
  kStopped,           ///< no hit since, and fewer than before with the test's confidence
  kStillRecurring,    ///< at least one hit since
  kNotEnoughEvidence  ///< no hit since, but not yet significantly fewer than before
};

/// A recurrence check's numbers. `more_clean_runs` is set for kNotEnoughEvidence when further clean
/// runs alone can reach the verdict kStopped (not when nothing recurred before): the fewest such runs.
struct RecurrenceCheck {
  Proportion before, since;
  RateInterval before_interval, since_interval;  ///< Clopper–Pearson at `confidence`
  double p_value = 1;                            ///< FisherLowerSince(before, since)
  RecurrenceVerdict verdict = RecurrenceVerdict::kNotEnoughEvidence;
  std::optional<uint64_t> more_clean_runs;
  double confidence = 0.95;
};

/// Decides the verdict: a hit since means still recurring, whatever the rate did (a lower rate is not
/// "stopped"); with none, stopped once FisherLowerSince < 1 - confidence. Pure; thread-safe.
RecurrenceCheck CheckRecurrence(Proportion before, Proportion since, double confidence = 0.95);

/// The fewest clean runs to add to `since` for FisherLowerSince(before, since') < alpha; nullopt when
/// `since` has hits, `before` has none, or more than `limit` would be needed. Pure; thread-safe.
std::optional<uint64_t> CleanRunsToConclude(Proportion before, Proportion since, double alpha,
                                            uint64_t limit = 100'000'000);

/// A rate in [0, 1] as a percentage in fixed notation: one decimal ("1.8%"), and below 0.1% (or above
/// 99.9%) the decimals that show two significant digits of the distance from 0% (from 100%).
std::string FormatRate(double rate);

}  // namespace coder::harness
