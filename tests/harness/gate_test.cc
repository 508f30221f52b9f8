#include "harness/analysis/gate.h"

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
  EXPECT_EQ(ParseFailOn("all")->size(), 13u);
  EXPECT_EQ(*ParseFailOn("dropped,held-by-client,clients"),
            (std::set<FindingKind>{FindingKind::kDropped, FindingKind::kHeldByClient, FindingKind::kClients}));
  EXPECT_EQ(*ParseFailOn("left-processes"), std::set<FindingKind>{FindingKind::kLeftProcesses});
  EXPECT_EQ(*ParseFailOn("fixed-tail"), std::set<FindingKind>{FindingKind::kFixedTail});
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

// A baseline whose clients never connected was reported "no findings in gated variants", exit 0: a
// comparison with runs that tested nothing.
TEST(GateTest, ABaselineRunThatLeftTheStopUntestedStillFails) {
  std::vector<VariantSpec> variants{{.name = "old", .gated = false, .baseline = true}};
  for (Outcome untested :
       {Outcome::kClientsNotEstablished, Outcome::kNeverReady, Outcome::kFailedToStart, Outcome::kLeftProcesses}) {
    const auto findings = CollectFindings(variants, {Record("old", 0, untested)}, {});
    ASSERT_EQ(findings.size(), 1u);
    EXPECT_TRUE(findings[0].gated) << ToString(untested);
    EXPECT_TRUE(Fails(findings, *ParseFailOn("all"))) << ToString(untested);
  }
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

RunRecord Stopped(std::string variant, int index, double latency_ms, Outcome outcome = Outcome::kClean) {
  RunRecord r = Record(std::move(variant), index, outcome);
  r.latency_ms = latency_ms;
  return r;
}

TEST(GateTest, AFixedTailIsOneFindingPerVariantGatedLikeItsRuns) {
  std::vector<VariantSpec> variants{{.name = "go"}, {.name = "old", .gated = false, .baseline = true}, {.name = "ok"}};
  std::vector<RunRecord> runs{Stopped("go", 0, 3'002),  Stopped("go", 1, 3'004),  Stopped("go", 2, 3'003),
                              Stopped("old", 0, 1'300), Stopped("old", 1, 1'301), Stopped("ok", 0, 1.2),
                              Stopped("ok", 1, 1.3)};
  const auto findings = CollectFindings(variants, runs, {});
  ASSERT_EQ(findings.size(), 2u);
  EXPECT_EQ(findings[0].variant, "go");
  EXPECT_EQ(findings[0].kind, FindingKind::kFixedTail);
  EXPECT_FALSE(findings[0].run.has_value());
  EXPECT_EQ(findings[0].message, "stops cluster at 3.003s (3 of 3 runs within 2.00ms): the signature of a timeout");
  EXPECT_TRUE(findings[0].gated);
  EXPECT_EQ(findings[1].variant, "old");
  EXPECT_FALSE(findings[1].gated);  // a baseline's fixed tail is reported, never gating
  EXPECT_TRUE(Fails(findings, *ParseFailOn("fixed-tail")));
  EXPECT_TRUE(Fails(findings, *ParseFailOn("all")));
  EXPECT_FALSE(Fails(findings, *ParseFailOn("fingerprint,slow")));
  EXPECT_EQ(GateJson(*ParseFailOn("all"), findings, 1)["findings"][0]["kind"], "fixed-tail");
}

TEST(GateTest, GenericTimeoutLinesAreBuiltInNotUserFingerprintFindings) {
  std::vector<VariantSpec> variants{{.name = "go"}};
  const auto findings =
      CollectFindings(variants, {Record("go", 0, Outcome::kTimeoutFingerprint, {"deadline-exceeded"})}, {});
  ASSERT_EQ(findings.size(), 1u);  // the outcome's finding, not also "fingerprint deadline-exceeded matched"
  EXPECT_THAT(findings[0].message, HasSubstr("timeout-fingerprint"));
}

}  // namespace
}  // namespace coder::harness
