// The built-in server's knowledge: its matrix and labels, the pairing with baselines that reads them,
// the parsing of its log lines.
#include "harness/builtin/builtin_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/builtin/builtin_log.h"
#include "harness/experiment/diag.h"
#include "harness/experiment/diag_report.h"

namespace coder::harness {
namespace {

using ::testing::ElementsAre;
using Labels = std::map<std::string, std::string>;

TEST(HeldSlotsLineTest, QuotedHeldSlotsWithSpacesAreParsed) {
  const std::string line =
      R"(... [warn] websocket shutdown timed out after 10 seconds  held="websocket /w#2 from 127.0.0.1:5, ai-gateway-rpc#1" held_count=2)";
  EXPECT_THAT(builtin::ParseHeldSlots(line), ElementsAre("websocket /w#2 from 127.0.0.1:5", "ai-gateway-rpc#1"));
}

TEST(StepLineTest, ParsesHumanAndJsonStepLines) {
  using builtin::ParseStepLine;
  auto human = ParseStepLine("2026-11-24 04:05:23.822 [info] shutdown step done  step=websocket-wait took=10.001s took_ms=10000.9 completed=false");
  ASSERT_TRUE(human);
  EXPECT_EQ(human->name, "websocket-wait");
  EXPECT_DOUBLE_EQ(human->ms, 10001);
  auto micro = ParseStepLine("[info] shutdown step done  step=api-drain took=85.3\xC2\xB5s took_ms=0.085 completed=true");
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
  return {.name = std::move(name), .builtin_server = true, .gated = !baseline, .baseline = baseline,
          .labels = {{"order", std::move(order)}, {"gateway", std::move(gateway)}}};
}

TEST(BaselinePairingTest, ABuiltinVariantIsPairedByItsLabelsWhateverItsName) {
  // Names that do not spell the labels: only the labels can pair them.
  const std::vector<VariantSpec> variants = {Builtin("slow without gateway", "unpatched", "off", true),
                                             Builtin("slow", "unpatched", "on", true),
                                             Builtin("fast", "patched", "on", false),
                                             Builtin("fast without gateway", "patched", "off", false)};
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
    return VariantSpec{.name = name, .argv = {"./server"}, .gated = !baseline, .baseline = baseline,
                       .labels = {{kTargetLabel, name}}};
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
  flags.self_executable = CODER_BINARY_PATH;
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
  targets.self_executable = CODER_BINARY_PATH;
  targets.targets = {"fixed=/bin/true", "old=/bin/true"};
  targets.baseline = "old";
  config = ParseDiagFlags(targets);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->plan.variants[0].labels, (Labels{{"target", "fixed"}}));
  EXPECT_TRUE(config->plan.variants[1].baseline);
}

}  // namespace
}  // namespace coder::harness
