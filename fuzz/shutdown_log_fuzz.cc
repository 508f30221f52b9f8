// The server's shutdown log read by the harness: the real shutdown steps (BuildShutdownSteps and
// ShutdownPlan, over fake targets and a fake clock) log in either format with arbitrary slot names,
// in-flight requests and errors; the harness's line splitter and parsers (harness/run.cc) must read
// back every step with its duration, the timeout seconds and the held slots.
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "harness/analysis/fingerprint.h"
#include "harness/builtin/builtin_log.h"
#include "harness/process/output_log.h"
#include "harness/report/report_view.h"
#include "server/shutdown_steps.h"
#include "tests/server/test_support.h"

namespace {

using coder::fuzz::Escape;
using coder::server::Clock;
using coder::server::testing::FakeClock;
using coder::server::testing::LogCapture;

/// Components whose answers (and how long each takes) come from the fuzzer.
class FuzzTargets final : public coder::server::ShutdownTargets {
 public:
  FuzzTargets(FuzzedDataProvider& p, FakeClock& clock) : p_(p), clock_(clock) {
    for (int i = p.ConsumeIntegralInRange(0, 3); i > 0; --i) in_flight.push_back(p.ConsumeRandomLengthString(48));
    for (int i = p.ConsumeIntegralInRange(0, 4); i > 0; --i) held.push_back(p.ConsumeRandomLengthString(48));
    if (p.ConsumeBool()) notifications_error = p.ConsumeRandomLengthString(48);
  }
  std::vector<std::string> DrainHttp(Clock::TimePoint) override { return Take(in_flight); }
  size_t CancelRequests() override { return Take(size_t{in_flight.size()}); }
  coder::Result<size_t> CloseNotifications(Clock::TimePoint) override {
    if (notifications_error.empty()) return Take(size_t{0});
    return Take(coder::Result<size_t>(coder::Error{notifications_error}));
  }
  void CloseAiGateway() override { Take(0); }
  size_t CloseWebSockets() override { return Take(held.size()); }
  std::vector<std::string> WaitWebSockets(Clock::TimePoint) override { return Take(held); }

  std::vector<std::string> in_flight, held;
  std::string notifications_error;

 private:
  template <typename T>
  T Take(T result) {
    clock_.Advance(std::chrono::nanoseconds(p_.ConsumeIntegralInRange<int64_t>(0, 20'000'000'000)));
    return result;
  }
  FuzzedDataProvider& p_;
  FakeClock& clock_;
};

bool ValidUtf8(const std::string& s) { return coder::ValidUtf8(s) == s; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider p(data, size);

  // Whatever a field holds (a request target, a peer's error text), a log call writes exactly one line.
  {
    const std::string value = p.ConsumeRandomLengthString(64);
    for (auto format : {coder::server::LogFormat::kHuman, coder::server::LogFormat::kJson}) {
      const coder::server::Logger logger(format, -1);
      const std::string line = logger.Format(coder::server::LogLevel::kWarn, "m", {{"in_flight", value}});
      FUZZ_CHECK(!line.empty() && line.find('\n') == line.size() - 1, "not one line: " + Escape(line));
    }
  }

  coder::server::ServerOptions options;
  const bool json = p.ConsumeBool();
  options.ai_gateway_enabled = p.ConsumeBool();
  options.shutdown_order =
      p.ConsumeBool() ? coder::server::ShutdownOrder::kPatched : coder::server::ShutdownOrder::kUnpatched;
  options.websocket_shutdown_timeout = std::chrono::milliseconds(p.ConsumeIntegralInRange<int64_t>(1, 3'600'000));
  FakeClock clock;
  FuzzTargets targets(p, clock);
  LogCapture log(json ? coder::server::LogFormat::kJson : coder::server::LogFormat::kHuman);

  auto steps = coder::server::BuildShutdownSteps(options, targets, log.logger());
  // Steps of other servers, named by the fuzzer: the harness reads any server's step lines.
  for (int i = p.ConsumeIntegralInRange(0, 2); i > 0; --i) {
    const auto took = std::chrono::nanoseconds(p.ConsumeIntegralInRange<int64_t>(0, 100'000'000'000));
    const bool completed = p.ConsumeBool();
    std::string detail = p.ConsumeRandomLengthString(32);
    steps.push_back(
        {p.ConsumeRandomLengthString(32), std::chrono::seconds(1), [&clock, took, completed, detail](Clock::TimePoint) {
           clock.Advance(took);
           return coder::server::StepResult{completed, detail};
         }});
  }
  coder::server::ShutdownPlan plan(std::move(steps), log.logger(), clock);
  const auto& report = plan.Run();

  const std::string text = log.Text();
  auto fingerprints = coder::harness::FingerprintSet::Create({});
  std::vector<coder::harness::StepTiming> parsed_steps;
  std::vector<std::string> held;
  std::optional<double> timeout_seconds;
  size_t lines = 0;
  coder::harness::LineSplitter splitter(64 << 10);
  splitter.Feed(text, [&](std::string&& line, bool) {
    ++lines;
    if (auto step = coder::harness::builtin::ParseStepLine(line)) parsed_steps.push_back(std::move(*step));
    if (auto seconds = (*fingerprints)->TimeoutSeconds(line)) {
      FUZZ_CHECK(!timeout_seconds, "two timeout lines");
      timeout_seconds = seconds;
      held = coder::harness::builtin::ParseHeldSlots(line);
    }
  });
  FUZZ_CHECK(text.empty() || text.back() == '\n', "the log ends inside a line");

  // Every step, each on its own line, whatever the other fields held.
  FUZZ_CHECK(parsed_steps.size() == report.steps.size(),
             std::to_string(report.steps.size()) + " steps ran, the harness read " +
                 std::to_string(parsed_steps.size()) + " from:\n" + Escape(text));
  for (size_t i = 0; i < report.steps.size(); ++i) {
    const auto& ran = report.steps[i];
    const auto& read = parsed_steps[i];
    if (ValidUtf8(ran.name) && ran.name.find_first_of("\r\n") == std::string::npos)
      FUZZ_CHECK(read.name == ran.name, "step \"" + Escape(ran.name) + "\" read as \"" + Escape(read.name) + "\"");
    // JSON lines carry took_ms rounded to the microsecond; human lines FormatDuration's 3-4 digits.
    const double ms = coder::ToSeconds(ran.took) * 1e3;
    const double tolerance = json ? 0.0006 : ms * 0.006 + 0.0006;
    FUZZ_CHECK(std::fabs(read.ms - ms) <= tolerance,
               "step " + Escape(ran.name) + " took " + std::to_string(ms) + " ms, read " + std::to_string(read.ms));
  }

  // The timeout line: its seconds, and every slot still held, in order.
  const bool waited_out = !targets.held.empty();
  FUZZ_CHECK(timeout_seconds.has_value() == waited_out,
             "timeout line " + std::string(timeout_seconds ? "without" : "missing") + " held slots:\n" + Escape(text));
  if (waited_out) {
    const std::string stated = coder::server::SecondsText(options.websocket_shutdown_timeout);
    if (stated.find('e') == std::string::npos)  // {:g} goes exponential only for timeouts no one sets
      FUZZ_CHECK(std::fabs(*timeout_seconds - coder::ToSeconds(options.websocket_shutdown_timeout)) <
                     1e-3 * coder::ToSeconds(options.websocket_shutdown_timeout),
                 stated);
    bool comparable = true;
    for (const auto& s : targets.held)
      comparable &= !s.empty() && s.find(", ") == std::string::npos && ValidUtf8(s) &&
                    s.find_first_of("\r\n") == std::string::npos;
    if (comparable) {
      std::string want, got;
      for (const auto& s : targets.held) want += "\"" + Escape(s) + "\" ";
      for (const auto& s : held) got += "\"" + Escape(s) + "\" ";
      FUZZ_CHECK(held == targets.held, "held " + want + "read as " + got + "from:\n" + Escape(text));
    }
  }
  return 0;
}
