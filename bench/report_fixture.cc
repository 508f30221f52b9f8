#include "bench/report_fixture.h"

#include <string>

#include "harness/builtin/builtin_server.h"

namespace coder::bench {
namespace {

std::vector<std::string> ShutdownLog(bool timed_out) {
  std::vector<std::string> log = {
      "2026-11-24 05:07:44.869 [info] Started HTTP listener at http://127.0.0.1:36087  url=http://127.0.0.1:36087",
      "2026-11-24 05:07:45.961 [info] Stop caught, gracefully exiting. Use ctrl+\\ to force quit",
      "2026-11-24 05:07:45.961 [info] Shutting down API server...",
      "2026-11-24 05:07:45.961 [info] Gracefully shut down API server",
      "2026-11-24 05:07:45.961 [info] shutdown step done  step=api-drain took=74.7µs took_ms=0.075 completed=true",
      "2026-11-24 05:07:45.961 [info] shutdown step done  step=cancel-requests took=10.8µs took_ms=0.011 "
      "completed=true",
      "2026-11-24 05:07:45.961 [info] Closed notifications manager  kept_for_next_start=0",
      "2026-11-24 05:07:45.961 [info] shutdown step done  step=notifications took=12.6µs took_ms=0.013 completed=true",
      "2026-11-24 05:07:45.961 [info] Waiting for WebSocket connections to close...",
  };
  if (timed_out)
    log.push_back(
        "2026-11-24 05:07:55.962 [warn] websocket shutdown timed out after 10 seconds  held=ai-gateway-rpc#1 "
        "held_count=1");
  log.push_back("2026-11-24 05:07:55.962 [info] AI gateway RPC session closed  session=ai-gateway-rpc#1");
  log.push_back("2026-11-24 05:07:55.962 [info] Closed AI gateway daemon");
  log.push_back(
      "2026-11-24 05:07:55.963 [info] Shutdown complete in 10.001s: api-drain 68.3µs (0.0%), websocket-wait 10.000s "
      "(100.0%)");
  return log;
}

}  // namespace

std::vector<harness::VariantSpec> MatrixVariants() {
  std::vector<harness::VariantSpec> variants;
  for (const char* order : {"patched", "unpatched"})
    for (const char* gateway : {"on", "off"}) {
      harness::VariantSpec v;
      v.name = std::string("order=") + order + ",gateway=" + gateway;
      v.labels = {{harness::builtin::kOrderLabel, order}, {harness::builtin::kGatewayLabel, gateway}};
      v.argv = {"/usr/bin/coder", "server", "--http-address", "127.0.0.1:0", "--shutdown-order", order};
      v.builtin_server = true;
      v.gated = std::string(order) == "patched";
      v.baseline = !v.gated;
      v.known_timeout_ms = 10000;
      variants.push_back(v);
    }
  return variants;
}

harness::RunRecord SyntheticRun(int i, const std::vector<harness::VariantSpec>& variants) {
  const auto& spec = variants[static_cast<size_t>(i) % variants.size()];
  const bool tail = spec.name == "order=unpatched,gateway=on";
  harness::RunRecord r;
  r.variant = spec.name;
  r.index = i / static_cast<int>(variants.size());
  r.outcome = tail ? harness::Outcome::kTimeoutFingerprint : harness::Outcome::kClean;
  r.detail = tail ? "a shutdown wait timed out on: ai-gateway-rpc#1" : "exited 0 after the signal";
  r.launch_ms = i * 23.5;
  r.ready_ms = 17.7 + (i % 7);
  r.signal_ms = *r.ready_ms + 0.05;
  r.latency_ms = tail ? 10004.0 + (i % 13) : 1.2 + 0.1 * (i % 17);
  r.exit_ms = *r.signal_ms + *r.latency_ms;
  r.exit = "exit 0";
  r.exit_code = 0;
  r.kernel_peak_rss_bytes = 9u << 20;
  r.tree_peak_rss_bytes = 5600000 + static_cast<uint64_t>(i % 100) * 4096;
  const int points = tail ? 512 : 4;
  for (int p = 0; p < points; ++p)
    r.rss_timeline.push_back({*r.exit_ms * p / points, 5500000 + static_cast<uint64_t>(p % 50) * 4096});
  if (tail) {
    r.fingerprints = {"latency-at-known-timeout", "websocket-shutdown-timeout"};
    r.held_slots = {"ai-gateway-rpc#1"};
  }
  r.steps = {{"api-drain", 0.075},
             {"cancel-requests", 0.011},
             {"notifications", 0.013},
             {"ai-gateway", 0.047},
             {"websocket-wait", tail ? 10000.4 : 0.014}};
  r.log_tail = ShutdownLog(tail);
  r.log_lines = r.log_tail.size();
  // A run that was not clean keeps its whole log, as the runner keeps it.
  if (tail) {
    harness::RunLog log{.clock = harness::LogClock::kSignal};
    double t = -1092.0;
    for (const std::string& line : r.log_tail) log.lines.push_back({t += 0.5, 1, line});
    r.log = std::move(log);
  }
  return r;
}

}  // namespace coder::bench
