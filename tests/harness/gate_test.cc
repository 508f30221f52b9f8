#include "harness/gate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace coder::harness {
namespace {

using ::testing::HasSubstr;

RunRecord Record(std::string variant, int index, Outcome outcome, std::vector<std::string> fingerprints = {}) {
  RunRecord r;
  r.variant = std::move(variant);
  r.index = index;
  r.outcome = outcome;
  r.detail = "because";
  r.fingerprints = std::move(fingerprints);
  return r;
}

TEST(GateTest, FailOnParsesAllNoneAndLists) {
  EXPECT_EQ(ParseFailOn("all")->size(), 9u);
  EXPECT_TRUE(ParseFailOn("none")->empty());
  auto some = ParseFailOn("budget,regression");
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(*some, (std::set<FindingKind>{FindingKind::kBudget, FindingKind::kRegression}));
  auto bad = ParseFailOn("budget,typo");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("unknown kind \"typo\""));
}

TEST(GateTest, EachUncleanRunAndUserFingerprintIsAFinding) {
  std::vector<VariantSpec> variants{{.name = "fixed"}, {.name = "old", .gated = false, .baseline = true}};
  std::vector<RunRecord> runs{Record("fixed", 0, Outcome::kClean), Record("fixed", 1, Outcome::kSlow),
                              Record("fixed", 2, Outcome::kClean, {"pool-drain", "latency-at-known-timeout"}),
                              Record("old", 0, Outcome::kTimeoutFingerprint)};
  const auto findings = CollectFindings(variants, runs, {});
  ASSERT_EQ(findings.size(), 3u);
  EXPECT_EQ(findings[0].kind, FindingKind::kSlow);
  EXPECT_EQ(findings[1].kind, FindingKind::kFingerprint);
  EXPECT_THAT(findings[1].message, HasSubstr("pool-drain"));
  EXPECT_FALSE(findings[2].gated);  // the baseline is reported, never gating
  EXPECT_TRUE(Fails(findings, *ParseFailOn("all")));
  EXPECT_FALSE(Fails(findings, *ParseFailOn("crash,watchdog")));
}

TEST(GateTest, ABaselineAloneNeverFails) {
  std::vector<VariantSpec> variants{{.name = "old", .gated = false, .baseline = true}};
  const auto findings = CollectFindings(variants, {Record("old", 0, Outcome::kCrashed)}, {});
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_FALSE(Fails(findings, *ParseFailOn("all")));
}

TEST(GateTest, BudgetAndRegressionAreExperimentFindings) {
  std::vector<VariantSpec> variants{{.name = "new"}, {.name = "old", .gated = false, .baseline = true}};
  ExperimentFindings experiment{.budgets = {{"", "peak 20GiB over 17GiB"}, {"old", "its own tails: 30GiB"}},
                                 .regressions = {{"new", "p95 12x"}}};
  const auto findings = CollectFindings(variants, {}, experiment);
  ASSERT_EQ(findings.size(), 3u);
  EXPECT_FALSE(findings[1].gated);  // the baseline's own budget finding is reported only
  EXPECT_EQ(findings[2].kind, FindingKind::kRegression);
  EXPECT_EQ(findings[0].kind, FindingKind::kBudget);
  EXPECT_TRUE(Fails(findings, *ParseFailOn("budget")));
  EXPECT_TRUE(Fails(findings, *ParseFailOn("regression")));
  EXPECT_FALSE(Fails(findings, *ParseFailOn("slow")));
  const auto json = GateJson(*ParseFailOn("budget"), findings, 1);
  EXPECT_EQ(json["exit_code"], 1);
  EXPECT_EQ(json["findings"][0]["kind"], "budget");
  EXPECT_TRUE(json["findings"][0]["run"].is_null());
}

}  // namespace
}  // namespace coder::harness
