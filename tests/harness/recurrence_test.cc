#include "harness/analysis/recurrence.h"

#include <gtest/gtest.h>

namespace coder::harness {
namespace {

// The reference values come from tests/analysis/recurrence_reference.py, which computes them without
// Boost: bisection on the binomial tails written out as sums, and Fisher's tail as an exact fraction.

struct IntervalCase {
  Proportion p;
  double lower, upper;
};

TEST(RecurrenceTest, ClopperPearsonMatchesTheIndependentReference) {
  const IntervalCase cases[] = {
      {{7, 388}, 7.283512954318e-03, 3.681708511720e-02},  {{0, 412}, 0.000000000000e+00, 8.913626875776e-03},
      {{1, 10}, 2.528578544462e-03, 4.450161170282e-01},   {{10, 10}, 6.915028921812e-01, 1.000000000000e+00},
      {{0, 10}, 0.000000000000e+00, 3.084971078188e-01},   {{50, 100}, 3.983211295033e-01, 6.016788704967e-01},
      {{3, 1000}, 6.190999316496e-04, 8.742023238478e-03}, {{2, 100000}, 2.422101962703e-06, 7.224498936505e-05},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << c.p.hits << " of " << c.p.runs);
    const RateInterval interval = ClopperPearson(c.p);
    EXPECT_NEAR(interval.lower, c.lower, 1e-9 * std::max(1.0, c.lower * 1e3));
    EXPECT_NEAR(interval.upper, c.upper, 1e-9 * std::max(1.0, c.upper * 1e3));
    EXPECT_LE(interval.lower, c.p.rate());
    EXPECT_GE(interval.upper, c.p.rate());
  }
}

TEST(RecurrenceTest, AnIntervalWithoutRunsIsEverything) {
  const RateInterval interval = ClopperPearson({0, 0});
  EXPECT_EQ(interval.lower, 0.0);
  EXPECT_EQ(interval.upper, 1.0);
}

struct FisherCase {
  Proportion before, since;
  double p;
};

TEST(RecurrenceTest, FisherLowerSinceMatchesTheExactReference) {
  const FisherCase cases[] = {
      {{7, 388}, {0, 412}, 6.137413837605e-03},       {{7, 388}, {1, 412}, 2.845809669719e-02},
      {{3, 50}, {0, 20}, 3.580562659847e-01},         {{1, 10}, {0, 10}, 5.000000000000e-01},
      {{5, 100000}, {0, 200000}, 4.114951992684e-03}, {{20, 40}, {20, 40}, 5.883739133943e-01},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << c.before.hits << "/" << c.before.runs << " vs " << c.since.hits << "/"
                                    << c.since.runs);
    EXPECT_NEAR(FisherLowerSince(c.before, c.since), c.p, 1e-10);
  }
}

TEST(RecurrenceTest, NothingToCompareIsAPValueOfOne) {
  EXPECT_EQ(FisherLowerSince({0, 100}, {0, 100}), 1.0);  // never recurred
  EXPECT_EQ(FisherLowerSince({3, 100}, {0, 0}), 1.0);    // nothing since
  EXPECT_EQ(FisherLowerSince({0, 0}, {0, 100}), 1.0);    // nothing before
  // Every run since hit: before cannot hold more hits than it does.
  EXPECT_EQ(FisherLowerSince({1, 10}, {5, 5}), 1.0);
}

TEST(RecurrenceTest, MoreHitsThanRunsOrBillionsOfRunsNeitherThrowNorWrap) {
  // Counts taken apart could disagree; hits are capped at runs rather than handed to Boost, which throws.
  EXPECT_NO_THROW(FisherLowerSince({3, 2}, {1, 10}));
  // With no hit since, the closed form holds at any size: one hit in half of 6 billion runs.
  EXPECT_NEAR(FisherLowerSince({1, 3'000'000'000}, {0, 3'000'000'000}), 0.5, 1e-9);
  EXPECT_NEAR(FisherLowerSince({2, 3'000'000'000}, {0, 3'000'000'000}), 0.25, 1e-6);
}

TEST(RecurrenceTest, CleanRunsToConcludeIsTheFewestThatMakeItSignificant) {
  struct Case {
    Proportion before;
    uint64_t since_runs, expected;
  };
  const Case cases[] = {{{7, 388}, 0, 206}, {{7, 388}, 100, 106}, {{3, 50}, 20, 64}, {{1, 10}, 5, 186}};
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << c.before.hits << "/" << c.before.runs << " then 0/" << c.since_runs);
    const auto more = CleanRunsToConclude(c.before, {0, c.since_runs}, 0.05);
    ASSERT_TRUE(more.has_value());
    EXPECT_EQ(*more, c.expected);
    EXPECT_LT(FisherLowerSince(c.before, {0, c.since_runs + *more}), 0.05);
    EXPECT_GE(FisherLowerSince(c.before, {0, c.since_runs + *more - 1}), 0.05);
  }
  EXPECT_FALSE(CleanRunsToConclude({0, 100}, {0, 10}, 0.05));     // nothing to stop
  EXPECT_FALSE(CleanRunsToConclude({7, 388}, {1, 10}, 0.05));     // recurred: clean runs do not undo that
  EXPECT_FALSE(CleanRunsToConclude({1, 10}, {0, 5}, 0.05, 100));  // beyond the limit
}

TEST(RecurrenceTest, TheSeedsExampleIsStoppedWithItsNumbers) {
  const RecurrenceCheck check = CheckRecurrence({7, 388}, {0, 412});
  EXPECT_EQ(check.verdict, RecurrenceVerdict::kStopped);
  EXPECT_NEAR(check.p_value, 0.006137, 1e-6);
  EXPECT_EQ(FormatRate(check.before.rate()), "1.8%");
  EXPECT_EQ(FormatRate(check.before_interval.lower), "0.7%");
  EXPECT_EQ(FormatRate(check.before_interval.upper), "3.7%");
  EXPECT_FALSE(check.more_clean_runs);
}

TEST(RecurrenceTest, AHitSinceIsStillRecurringEvenWhenTheRateFell) {
  // 1 of 412 against 7 of 388 is significantly lower (p = 0.028), yet it has not stopped.
  const RecurrenceCheck check = CheckRecurrence({7, 388}, {1, 412});
  EXPECT_LT(check.p_value, 0.05);
  EXPECT_EQ(check.verdict, RecurrenceVerdict::kStillRecurring);
  EXPECT_FALSE(check.more_clean_runs);
}

TEST(RecurrenceTest, TooFewCleanRunsSayHowManyMoreWouldDo) {
  const RecurrenceCheck check = CheckRecurrence({7, 388}, {0, 100});
  EXPECT_EQ(check.verdict, RecurrenceVerdict::kNotEnoughEvidence);
  ASSERT_TRUE(check.more_clean_runs);
  EXPECT_EQ(*check.more_clean_runs, 106u);
  const RecurrenceCheck never = CheckRecurrence({0, 388}, {0, 100});
  EXPECT_EQ(never.verdict, RecurrenceVerdict::kNotEnoughEvidence);
  EXPECT_FALSE(never.more_clean_runs);
}

TEST(RecurrenceTest, RatesAreFormattedAsPercentages) {
  EXPECT_EQ(FormatRate(0), "0%");
  EXPECT_EQ(FormatRate(1), "100%");
  EXPECT_EQ(FormatRate(0.25), "25.0%");
  EXPECT_EQ(FormatRate(0.00002422), "0.0024%");
  // Never an exponent, and never rounded to 0% or 100% when it is not.
  EXPECT_EQ(FormatRate(2.5e-7), "0.000025%");
  EXPECT_EQ(FormatRate(0.9997), "99.970%");
}

}  // namespace
}  // namespace coder::harness
