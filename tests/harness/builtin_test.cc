// The built-in server's knowledge: its matrix and labels, the pairing with baselines that reads them,
// the parsing of its log lines, and labels in the report (written, read back, absent in older reports).
#include "harness/builtin/builtin_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/file_util.h"
#include "harness/builtin/builtin_log.h"
#include "harness/experiment/diag.h"
#include "harness/experiment/diag_merge.h"
#include "harness/experiment/diag_report.h"
#include "harness/report/merge.h"
#include "harness/report/report.h"
#include "tests/harness/report_fixture.h"

namespace coder::harness {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using Labels = std::map<std::string, std::string>;

TEST(HeldSlotsLineTest, QuotedHeldSlotsWithSpacesAreParsed) {
  const std::string line =
      R"(... [warn] websocket shutdown timed out after 10 seconds  held="websocket /w#2 from 127.0.0.1:5, ai-gateway-rpc#1" held_count=2)";
  EXPECT_THAT(builtin::ParseHeldSlots(line), ElementsAre("websocket /w#2 from 127.0.0.1:5", "ai-gateway-rpc#1"));
}

TEST(StepLineTest, ParsesHumanAndJsonStepLines) {
  using builtin::ParseStepLine;
  auto human = ParseStepLine(
      "2026-11-24 04:05:23.822 [info] shutdown step done  step=websocket-wait took=10.001s took_ms=10000.9 "
      "completed=false");
  ASSERT_TRUE(human);
  EXPECT_EQ(human->name, "websocket-wait");
  EXPECT_DOUBLE_EQ(human->ms, 10001);
  auto micro =
      ParseStepLine("[info] shutdown step done  step=api-drain took=85.3\xC2\xB5s took_ms=0.085 completed=true");
  ASSERT_TRUE(micro);
  EXPECT_NEAR(micro->ms, 0.0853, 1e-9);
  auto json = ParseStepLine(R"({"msg":"shutdown step done","step":"ai-gateway","took":"1ms","took_ms":1.25})");
  ASSERT_TRUE(json);
  EXPECT_EQ(json->name, "ai-gateway");
  EXPECT_DOUBLE_EQ(json->ms, 1.25);
  EXPECT_FALSE(ParseStepLine("Shutting down API server..."));
}

TEST(BuiltinMatrixTest, EachVariantIsLabelledWithItsOrderAndGateway) {
  auto matrix = builtin::Matrix({.executable = "/bin/coder",
                                 .orders = {"patched", "unpatched"},
                                 .gateways = {"on", "off"},
                                 .websocket_shutdown_timeout = "300ms",
                                 .websocket_shutdown_timeout_ms = 300});
  ASSERT_TRUE(matrix) << matrix.error().message;
  ASSERT_EQ(matrix->size(), 4u);
  const VariantSpec& v = (*matrix)[3];
  EXPECT_EQ(v.name, "order=unpatched,gateway=off");
  EXPECT_EQ(v.labels, (Labels{{"order", "unpatched"}, {"gateway", "off"}}));
  EXPECT_TRUE(v.builtin_server);
  EXPECT_THAT(v.argv, ElementsAre("/bin/coder", "server", "--http-address", "127.0.0.1:0", "--ai-gateway-enabled=false",
                                  "--shutdown-order", "unpatched", "--log-format", "human",
                                  "--websocket-shutdown-timeout", "300ms"));
  EXPECT_EQ(v.known_timeout_ms, 300);
  // What an older report's argv says is what the labels say.
  for (const VariantSpec& each : *matrix) EXPECT_EQ(builtin::LabelsFromArgv(each.argv), each.labels) << each.name;

  auto plain = builtin::Matrix({.executable = "coder", .orders = {"patched"}, .gateways = {"on"}});
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->front().known_timeout_ms, builtin::kDefaultWebsocketShutdownTimeoutMs);
  EXPECT_EQ(builtin::LabelsFromArgv({"coder", "server"}), (Labels{{"order", "patched"}, {"gateway", "on"}}));
}

TEST(BuiltinMatrixTest, AnUnknownOrderOrGatewayIsAnErrorNamingItsFlag) {
  auto order = builtin::Matrix({.executable = "coder", .orders = {"sideways"}, .gateways = {"on"}});
  ASSERT_FALSE(order);
  EXPECT_EQ(order.error().message, "--shutdown-order: \"sideways\" is not patched or unpatched");
  auto gateway = builtin::Matrix({.executable = "coder", .orders = {"patched"}, .gateways = {}});
  ASSERT_FALSE(gateway);
  EXPECT_EQ(gateway.error().message, "--gateway: want on, off or both");
}

VariantSpec Builtin(std::string name, std::string order, std::string gateway, bool baseline) {
  return {.name = std::move(name),
          .builtin_server = true,
          .gated = !baseline,
          .baseline = baseline,
          .labels = {{"order", std::move(order)}, {"gateway", std::move(gateway)}}};
}

TEST(BaselinePairingTest, ABuiltinVariantIsPairedByItsLabelsWhateverItsName) {
  // Names that do not spell the labels: only the labels can pair them.
  const std::vector<VariantSpec> variants = {
      Builtin("slow without gateway", "unpatched", "off", true), Builtin("slow", "unpatched", "on", true),
      Builtin("fast", "patched", "on", false), Builtin("fast without gateway", "patched", "off", false)};
  ASSERT_NE(BaselineFor(variants[2], variants), nullptr);
  EXPECT_EQ(BaselineFor(variants[2], variants)->name, "slow");
  EXPECT_EQ(BaselineFor(variants[3], variants)->name, "slow without gateway");
}

TEST(BaselinePairingTest, TheMatrixPairsEachOrderWithTheOtherOfItsGatewaySetting) {
  auto matrix = builtin::Matrix({.executable = "coder", .orders = {"unpatched", "patched"}, .gateways = {"on", "off"}});
  ASSERT_TRUE(matrix);
  for (VariantSpec& v : *matrix) v.baseline = builtin::HasOrder(v, "unpatched");
  EXPECT_EQ(BaselineFor((*matrix)[2], *matrix)->name, "order=unpatched,gateway=on");
  EXPECT_EQ(BaselineFor((*matrix)[3], *matrix)->name, "order=unpatched,gateway=off");
}

TEST(BaselinePairingTest, UserTargetsNamedLikeTheMatrixAreNotPairedByTheirNames) {
  auto target = [](std::string name, bool baseline) {
    return VariantSpec{
        .name = name, .argv = {"./server"}, .gated = !baseline, .baseline = baseline, .labels = {{kTargetLabel, name}}};
  };
  const std::vector<VariantSpec> variants = {target("order=unpatched,gateway=off", true),
                                             target("order=unpatched,gateway=on", true),
                                             target("order=patched,gateway=on", false)};
  // The first baseline, as for any user's targets.
  EXPECT_EQ(BaselineFor(variants[2], variants)->name, "order=unpatched,gateway=off");
  EXPECT_FALSE(builtin::DiffersOnlyInOrder(variants[2], variants[1]));
}

TEST(BaselinePairingTest, TheDefaultBaselineIsEveryUnpatchedVariantByItsLabel) {
  DiagFlags flags;
  flags.self_executable =
      std::filesystem::read_symlink("/proc/self/exe").string();  // any executable: no coder binary here
  flags.shutdown_order = "patched,unpatched";
  auto config = ParseDiagFlags(flags);
  ASSERT_TRUE(config) << config.error().message;
  const auto& variants = config->plan.variants;
  ASSERT_EQ(variants.size(), 4u);
  for (const VariantSpec& v : variants) {
    EXPECT_EQ(v.baseline, v.labels.at("order") == "unpatched") << v.name;
    EXPECT_EQ(v.gated, !v.baseline) << v.name;
  }
  flags.baseline = "patched";
  config = ParseDiagFlags(flags);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->plan.variants[0].baseline);
  EXPECT_FALSE(config->plan.variants[2].baseline);

  DiagFlags targets;
  targets.self_executable = flags.self_executable;
  targets.targets = {"fixed=/bin/true", "old=/bin/true"};
  targets.baseline = "old";
  config = ParseDiagFlags(targets);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->plan.variants[0].labels, (Labels{{"target", "fixed"}}));
  EXPECT_TRUE(config->plan.variants[1].baseline);
}

TEST(ReportLabelsTest, LabelsRoundTripThroughTheReportJson) {
  const VariantSpec matrix = Builtin("order=patched,gateway=off", "patched", "off", false);
  const VariantSpec user{.name = "fixed", .argv = {"./server"}, .labels = {{kTargetLabel, "fixed"}}};
  const json report = ReportJson({}, {matrix, user}, {}, {});
  EXPECT_EQ(report["variants"][0]["spec"]["labels"], json({{"gateway", "off"}, {"order", "patched"}}));
  EXPECT_EQ(VariantSpecJson(VariantSpec{.name = "bare"})["labels"], json::object());
  // Through text, as a file is read back, and through a merge, as `coder diag merge` reads it.
  const json text = json::parse(DumpJson(report, 2));
  const auto merged = MergeReports({text});
  ASSERT_TRUE(merged) << merged.error().message;
  for (const json* doc : {&text, &*merged}) {
    const auto first = ReadReportedSpec((*doc)["variants"][0]["spec"]);
    const auto second = ReadReportedSpec((*doc)["variants"][1]["spec"]);
    ASSERT_TRUE(first && second);
    EXPECT_EQ(first->labels, matrix.labels);
    EXPECT_EQ(second->labels, user.labels);
  }
  // A spec is read as strictly as the rest of the report: a missing or mistyped key is named.
  json no_gated = text["variants"][1]["spec"];
  no_gated.erase("gated");
  const auto refused = ReadReportedSpec(no_gated);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "spec.gated: a boolean, missing");
  json bad_argv = text["variants"][1]["spec"];
  bad_argv["argv"] = json::array({"./server", 7});
  ASSERT_FALSE(ReadReportedSpec(bad_argv));
  EXPECT_EQ(ReadReportedSpec(bad_argv).error().message, "spec.argv[1]: a string, found a number");
  // Labels of the wrong type make a spec that a merge cannot read.
  json bad = text;
  bad["variants"][1]["spec"]["labels"] = json::array({"target=fixed"});
  EXPECT_FALSE(MergeReports({bad}));
}

/// The sample report as written before variants carried labels.
json WithoutLabels(json report) {
  for (json& v : report["variants"]) v["spec"].erase("labels");
  return report;
}

TEST(ReportLabelsTest, AReportWithoutLabelsStillReadsAndMerges) {
  const json with = testing::ReportOf(testing::MakeSampleExperiment());
  const json without = WithoutLabels(with);
  ASSERT_FALSE(without["variants"][0]["spec"].contains("labels"));
  // A built-in variant gets the labels its argv states; a user's target its name.
  const auto unpatched = ReadReportedSpec(without["variants"][1]["spec"]);
  ASSERT_TRUE(unpatched);
  EXPECT_EQ(unpatched->labels, (Labels{{"order", "unpatched"}, {"gateway", "on"}}));
  const auto user = ReadReportedSpec(json{{"name", "fixed"},
                                          {"argv", {"./server"}},
                                          {"builtin_server", false},
                                          {"gated", true},
                                          {"baseline", false},
                                          {"known_timeout_ms", nullptr}});
  ASSERT_TRUE(user) << user.error().message;
  EXPECT_EQ(user->labels, (Labels{{"target", "fixed"}}));

  ASSERT_TRUE(MergeReports({without})) << MergeReports({without}).error().message;
  // An older report and a newer one of the same variants are one experiment; the labels are kept.
  const auto merged = MergeReports({without, with});
  ASSERT_TRUE(merged) << merged.error().message;
  EXPECT_EQ((*merged)["variants"][1]["spec"]["labels"], with["variants"][1]["spec"]["labels"]);
  // The committed fixture predates labels.
  auto fixture = ReadFile(std::filesystem::path(CODER_SOURCE_DIR) / "tests/fixtures/diag-report.json");
  ASSERT_TRUE(fixture) << fixture.error().message;
  const auto old = MergeReports(std::vector<json>{json::parse(*fixture)});
  ASSERT_TRUE(old) << old.error().message;
  std::vector<VariantSpec> specs;
  for (const json& v : (*old)["variants"]) specs.push_back(*ReadReportedSpec(v["spec"]));
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(BaselineFor(specs[0], specs), &specs[1]);
  EXPECT_TRUE(builtin::DiffersOnlyInOrder(specs[0], specs[1]));
}

}  // namespace
}  // namespace coder::harness
