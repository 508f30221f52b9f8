#include "tests/harness/report_fixture.h"

#include <gtest/gtest.h>

#include "harness/analysis/stats.h"
#include "harness/report/annotations.h"
#include "harness/report/junit.h"
#include "harness/report/markdown.h"
#include "harness/report/report_view.h"

namespace coder::harness::testing {

using nlohmann::json;

namespace {

constexpr const char* kPatched = "order=patched,gateway=on";
constexpr const char* kUnpatched = "order=unpatched,gateway=on";
constexpr const char* kNoGateway = "order=patched,gateway=off";

RunRecord Run(const std::string& variant, int index, double latency_ms, double launch_ms) {
  RunRecord r;
  r.variant = variant;
  r.index = index;
  r.detail = "stopped cleanly";
  r.launch_ms = launch_ms;
  r.ready_ms = 40;
  r.signal_ms = 40.5;
  r.latency_ms = latency_ms;
  r.exit_ms = 40.5 + latency_ms;
  r.exit = "exit 0";
  r.exit_code = 0;
  r.tree_peak_rss_bytes = (5u << 20) + static_cast<uint64_t>(index) * 4096;
  r.kernel_peak_rss_bytes = 6u << 20;
  r.rss_timeline = {{0, 1u << 20}, {40, r.tree_peak_rss_bytes}, {r.exit_ms.value_or(0), 3u << 20}};
  r.log_tail = {"Started HTTP listener at http://127.0.0.1:40001"};
  r.log_lines = 12;
  return r;
}

std::string KindOf(Outcome o) {
  switch (o) {
    case Outcome::kFailedToStart: return "failed-to-start";
    case Outcome::kNeverReady: return "never-ready";
    case Outcome::kCrashed: return "crash";
    case Outcome::kKilledByWatchdog: return "watchdog";
    case Outcome::kLeftProcesses: return "left-processes";
    case Outcome::kClientsNotEstablished: return "clients";
    case Outcome::kTimeoutFingerprint: return "fingerprint";
    case Outcome::kSlow: return "slow";
    case Outcome::kClean: return "";
  }
  return "";
}

}  // namespace

SampleExperiment MakeSampleExperiment(const std::string& hostile_line) {
  SampleExperiment e;
  e.specs = {
      {.name = kPatched,
       .argv = {"coder", "server"},
       .builtin_server = true,
       .labels = {{"order", "patched"}, {"gateway", "on"}}},
      {.name = kUnpatched,
       .argv = {"coder", "server", "--shutdown-order", "unpatched"},
       .builtin_server = true,
       .gated = false,
       .baseline = true,
       .known_timeout_ms = 10'000,
       .labels = {{"order", "unpatched"}, {"gateway", "on"}}},
      {.name = kNoGateway,
       .argv = {"coder", "server", "--ai-gateway-enabled=false"},
       .builtin_server = true,
       .labels = {{"order", "patched"}, {"gateway", "off"}}},
  };
  const double patched_ms[] = {1.25, 1.5, 2.0, 8.0};
  for (int i = 0; i < 4; ++i) {
    RunRecord r = Run(kPatched, i, patched_ms[i], 100.0 * i);
    r.steps = {{"api-drain", 0.5}, {"ai-gateway", 0.25}, {"websocket-wait", 0.125}};
    e.runs.push_back(r);
  }
  const double unpatched_ms[] = {10'004.5, 10'005, 10'005.25, 10'006};
  for (int i = 0; i < 4; ++i) {
    RunRecord r = Run(kUnpatched, i, unpatched_ms[i], 50.0 + 100.0 * i);
    r.outcome = Outcome::kTimeoutFingerprint;
    r.detail = "a shutdown wait timed out on: ai-gateway-rpc#1";
    r.fingerprints = {"websocket-shutdown-timeout", "latency-at-known-timeout"};
    r.held_slots = {"ai-gateway-rpc#1"};
    r.steps = {{"api-drain", 0.5}, {"websocket-wait", 10'000.5}, {"ai-gateway", 0.25}};
    r.log_tail.push_back("websocket shutdown timed out after 10 seconds  held=ai-gateway-rpc#1");
    e.runs.push_back(r);
  }
  const double no_gateway_ms[] = {1.0, 1.5, 6'000, 2.5};
  for (int i = 0; i < 4; ++i) {
    RunRecord r = Run(kNoGateway, i, no_gateway_ms[i], 25.0 + 100.0 * i);
    if (i == 2) {
      r.outcome = Outcome::kSlow;
      r.detail = "stopped in 6.000s, over the 5s slow threshold";
      r.log_tail = {"Stop caught, gracefully exiting", hostile_line, "shutdown complete"};
    }
    e.runs.push_back(r);
  }
  e.meta.coder_version = "0.1.0";
  e.meta.started_at = "2026-11-24T04:19:37.265Z";
  e.meta.wall_seconds = 12.5;
  e.meta.command_line = {"coder", "diag", "shutdown", "--runs", "4"};
  e.meta.options = json{{"runs", 4}};
  e.meta.exit_code = 1;
  e.meta.notes = {"the kernel's peak RSS includes the harness's own image"};
  return e;
}

json ReportOf(const SampleExperiment& e) {
  std::vector<VariantSummary> summaries;
  for (const VariantSpec& spec : e.specs) {
    std::vector<RunRecord> mine;
    for (const RunRecord& r : e.runs)
      if (r.variant == spec.name) mine.push_back(r);
    summaries.push_back(SummarizeVariant(spec, mine));
  }
  return ReportJson(e.meta, e.specs, summaries, e.runs);
}

json SampleBudget() {
  auto analysis = [](uint64_t peak, bool over, double time_over_ms) {
    return json{{"peak_total_bytes", peak},
                {"peak_total_at_ms", 1'250.0},
                {"peak_tail_bytes", peak / 2},
                {"time_over_budget_ms", time_over_ms},
                {"over_budget", over},
                {"mean_live", 3.5},
                {"arrival_rate_per_s", 0.875},
                {"mean_lifetime_ms", 4'000},
                {"mean_tail_ms", 3'000},
                {"tail_share", 0.75},
                {"window_ms", 16'000},
                {"timeline", json::array({json::array({0, 0, 0, 0}), json::array({50, peak, peak / 2, 2}),
                                          json::array({16'000, 0, 0, 0})})}};
  };
  return json{{"budget_bytes", uint64_t{17} << 30},
              {"assume_rss_bytes", uint64_t{8'160'437'862}},
              {"measured", analysis(uint64_t{22} << 20, false, 0)},
              {"projected", analysis(uint64_t{32'641'751'448}, true, 9'000)}};
}

json SampleComparisons(bool regression) {
  auto ratio = [](double r, double lo, double hi) {
    return json{{"ratio", r}, {"ci_low", lo}, {"ci_high", hi}, {"method", "bootstrap-percentile"}};
  };
  json patched = {{"variant", kPatched},
                  {"baseline", kUnpatched},
                  {"p50_ratio", ratio(1.5 / 10'005, 1.25 / 10'006, 2.0 / 10'004.5)},
                  {"p95_ratio", regression ? ratio(3.5, 2.5, 4.0) : ratio(8.0 / 10'006, 2.0 / 10'006, 8.0 / 10'004.5)},
                  {"timeout_rate", 0.0},
                  {"baseline_timeout_rate", 1.0},
                  {"peak_rss_ratio", 1.0},
                  {"suite_stops", 10},
                  {"suite_shutdown_seconds", 0.015},
                  {"baseline_suite_shutdown_seconds", 100.05},
                  {"regression", regression}};
  json no_gateway = patched;
  no_gateway["variant"] = kNoGateway;
  no_gateway["p95_ratio"] = ratio(6'000 / 10'006.0, 1.5 / 10'006, 6'000 / 10'004.5);
  no_gateway["regression"] = false;
  return json::array({patched, no_gateway});
}

json GateOf(const SampleExperiment& e, const std::vector<std::string>& fail_on, bool budget_finding) {
  json findings = json::array();
  for (const RunRecord& r : e.runs) {
    if (r.outcome == Outcome::kClean) continue;
    bool gated = true;
    for (const VariantSpec& s : e.specs)
      if (s.name == r.variant) gated = s.gated;
    findings.push_back({{"variant", r.variant},
                        {"run", r.index},
                        {"kind", KindOf(r.outcome)},
                        {"message", std::string(ToString(r.outcome)) + ": " + r.detail},
                        {"gated", gated}});
  }
  if (budget_finding)
    findings.push_back(
        {{"variant", ""},
         {"run", nullptr},
         {"kind", "budget"},
         {"message", "projected peak 30.4GiB (every target at 7.60GiB) exceeds the 17.0GiB budget for 9.00s"},
         {"gated", true}});
  return json{{"fail_on", fail_on}, {"exit_code", e.meta.exit_code}, {"findings", findings}};
}

json FullSampleReport(const std::string& hostile_line) {
  const SampleExperiment e = MakeSampleExperiment(hostile_line);
  json report = ReportOf(e);
  report["budget"] = SampleBudget();
  report["comparisons"] = SampleComparisons();
  report["gate"] = GateOf(
      e, {"fingerprint", "slow", "watchdog", "crash", "never-ready", "failed-to-start", "budget", "regression"}, true);
  return report;
}

json TimeoutsReport() {
  SampleExperiment e;
  e.specs = {{.name = "hangs", .argv = {"server"}},
             {.name = "go", .argv = {"go-server"}},
             {.name = "quick", .argv = {"server"}, .gated = false, .baseline = true}};
  for (int i = 0; i < 3; ++i) {
    RunRecord r = Run("hangs", i, 8'004 + i, i * 10'000);
    r.outcome = Outcome::kKilledByWatchdog;
    r.watchdog_fired = true;
    r.exit = "killed by SIGKILL";
    r.detail = "still running 8.000s after SIGTERM; the watchdog sent SIGKILL";
    e.runs.push_back(r);
  }
  e.runs.push_back(Run("hangs", 3, 12, 40'000));
  for (int i = 0; i < 3; ++i) e.runs.push_back(Run("go", i, 3'002 + i, 50'000 + i * 4'000));
  for (int i = 0; i < 3; ++i) e.runs.push_back(Run("quick", i, 10 + i, 70'000 + i * 100));
  e.meta.coder_version = "0.1.0";
  e.meta.started_at = "2026-11-24T04:19:37.265Z";
  json report = ReportOf(e);
  report["comparisons"] = json::array({{{"variant", "hangs"},
                                        {"baseline", "quick"},
                                        {"p50_ratio",
                                         {{"ratio", 1.2},
                                          {"ci_low", 1.0},
                                          {"ci_high", nullptr},
                                          {"method", "bootstrap-percentile"},
                                          {"bound", "estimate"}}},
                                        {"p95_ratio",
                                         {{"ratio", 667.0},
                                          {"ci_low", 667.0},
                                          {"ci_high", nullptr},
                                          {"method", "bootstrap-percentile"},
                                          {"bound", "lower_bound"}}},
                                        {"timeout_rate", 0.0},
                                        {"baseline_timeout_rate", 0.0},
                                        {"peak_rss_ratio", 1.0},
                                        {"suite_stops", 10},
                                        {"suite_shutdown_seconds", 80.05},
                                        {"baseline_suite_shutdown_seconds", 0.11},
                                        {"suite_shutdown_lower_bound", true},
                                        {"baseline_suite_shutdown_lower_bound", false},
                                        {"regression", true}}});
  return report;
}

namespace {

template <class Render>
auto Rendered(const json& report, Render render) -> decltype(render(std::declval<const ReadReport&>())) {
  auto read = ReadWholeReport(report);
  if (!read) {
    ADD_FAILURE() << "the report does not read: " << read.error().message;
    return {};
  }
  return render(*read);
}

}  // namespace

std::string JunitOf(const json& report) {
  return Rendered(report, [](const ReadReport& r) { return RenderJunit(r.document, r.runs); });
}
std::string MarkdownOf(const json& report) {
  return Rendered(report, [](const ReadReport& r) { return RenderMarkdown(r.document, r.runs); });
}
std::string AnnotationsOf(const json& report) {
  return Rendered(report, [](const ReadReport& r) { return RenderGithubAnnotations(r.document, r.runs); });
}
ReportSections SectionsOf(const json& report) {
  return Rendered(report, [](const ReadReport& r) { return ChooseSections(r.document); });
}

}  // namespace coder::harness::testing
