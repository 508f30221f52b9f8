#include "harness/analysis/run_record.h"

#include "common/enum_names.h"
#include "harness/analysis/hang_json.h"
#include "harness/analysis/json_reader.h"
#include "harness/analysis/traffic_json.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <limits>

namespace coder::harness {
namespace {

using nlohmann::json;

constexpr std::pair<Outcome, std::string_view> kOutcomeNames[] = {
    {Outcome::kClean, "clean"},
    {Outcome::kSlow, "slow"},
    {Outcome::kTimeoutFingerprint, "timeout-fingerprint"},
    {Outcome::kLeftProcesses, "left-processes"},
    {Outcome::kClientsNotEstablished, "clients-not-established"},
    {Outcome::kKilledByWatchdog, "killed-by-watchdog"},
    {Outcome::kCrashed, "crashed"},
    {Outcome::kNeverReady, "never-ready"},
    {Outcome::kFailedToStart, "failed-to-start"},
};

std::string_view StreamName(int stream) { return stream == 2 ? "stderr" : "stdout"; }

json LogJson(const std::optional<RunLog>& log) {
  if (!log) return nullptr;
  json lines = json::array();
  for (const LogLine& l : log->lines) lines.push_back(json::array({l.t_ms, StreamName(l.stream), l.text}));
  return {{"clock", ToString(log->clock)},
          {"lines", std::move(lines)},
          {"dropped_lines", log->dropped_lines},
          {"dropped_bytes", log->dropped_bytes}};
}

json Optional(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }
json Optional(const std::optional<int>& v) { return v ? json(*v) : json(nullptr); }

}  // namespace

std::string_view ToString(Outcome outcome) { return NameIn(kOutcomeNames, outcome); }

std::optional<Outcome> OutcomeFromString(std::string_view text) { return ValueNamed(kOutcomeNames, text); }

// The encoding is documented in docs/report-schema.md ("Run record"). Every key is always written;
// an absent optional is written as null, so consumers see one fixed shape.
json RunRecord::ToJson() const {
  json timeline = json::array();
  for (const RssPoint& p : rss_timeline) timeline.push_back(json::array({p.t_ms, p.bytes}));
  json step_list = json::array();
  for (const StepTiming& s : steps) step_list.push_back({{"name", s.name}, {"ms", s.ms}});
  json stack_list = json::array();
  for (const ProcessStacks& s : stacks) {
    stack_list.push_back({{"pid", s.pid},
                          {"tool", s.tool},
                          {"runtime", s.runtime},
                          {"at_ms", s.at_ms},
                          {"text", s.text},
                          {"cut", s.cut},
                          {"verdict", s.verdict},
                          {"error", s.error}});
  }
  return json{
      {"variant", variant},
      {"index", index},
      {"outcome", ToString(outcome)},
      {"detail", detail},
      {"launch_ms", Optional(launch_ms)},
      {"ready_ms", Optional(ready_ms)},
      {"signal_ms", Optional(signal_ms)},
      {"exit_ms", Optional(exit_ms)},
      {"latency_ms", Optional(latency_ms)},
      {"exit", exit},
      {"exit_code", Optional(exit_code)},
      {"exit_signal", Optional(exit_signal)},
      {"watchdog_fired", watchdog_fired},
      {"ended_by_dump", ended_by_dump},
      {"stop_acknowledged_ms", Optional(stop_acknowledged_ms)},
      {"left_processes", left_processes},
      {"kernel_peak_rss_bytes", kernel_peak_rss_bytes},
      {"tree_peak_rss_bytes", tree_peak_rss_bytes},
      {"rss_timeline", std::move(timeline)},
      {"fingerprints", fingerprints},
      {"steps", std::move(step_list)},
      {"held_slots", held_slots},
      {"log_tail", log_tail},
      {"log", LogJson(log)},
      {"log_lines", log_lines},
      {"log_dropped_bytes", log_dropped_bytes},
      {"stacks", std::move(stack_list)},
      {"traffic", TrafficJson(traffic)},
      {"hang", HangJson(hang)},
  };
}

namespace {

// Each reads one optional member of a run record's JSON; false when it is present but malformed.

bool ReadRssTimeline(const json& timeline, JsonReader& in, std::vector<RssPoint>& out) {
  if (!timeline.is_array()) return false;
  for (const json& p : timeline) {
    if (!p.is_array() || p.size() != 2 || !p[0].is_number()) return false;
    const auto bytes = in.AsU64(p[1]);
    if (!bytes) return false;
    out.push_back(RssPoint{p[0].get<double>(), *bytes});
  }
  return true;
}

/// An array of objects, each read into a T by `fill` with a Reader of its own.
template <class T, class Fill>
bool ReadObjects(const json& array, std::vector<T>& out, Fill fill) {
  if (!array.is_array()) return false;
  for (const json& element : array) {
    if (!element.is_object()) return false;
    T item;
    JsonReader in(element);
    fill(in, item);
    if (!in.ok()) return false;
    out.push_back(std::move(item));
  }
  return true;
}

bool ReadSteps(const json& steps, std::vector<StepTiming>& out) {
  return ReadObjects(steps, out, [](JsonReader& in, StepTiming& step) {
    in.String("name", step.name);
    in.Double("ms", step.ms);
  });
}

bool ReadLog(const json& log, std::optional<RunLog>& result) {
  if (!log.is_object()) return false;
  RunLog out;
  JsonReader log_in(log);
  std::string clock = "launch";
  log_in.String("clock", clock);
  const auto known = LogClockFromString(clock);
  if (!known) return false;
  out.clock = *known;
  log_in.U64("dropped_lines", out.dropped_lines);
  log_in.U64("dropped_bytes", out.dropped_bytes);
  if (const json* lines = log_in.Find("lines")) {
    if (!lines->is_array()) return false;
    for (const json& l : *lines) {
      if (!l.is_array() || l.size() != 3 || !l[0].is_number() || !l[1].is_string() || !l[2].is_string()) return false;
      const std::string stream = l[1].get<std::string>();
      if (stream != "stdout" && stream != "stderr") return false;
      out.lines.push_back(LogLine{l[0].get<double>(), stream == "stderr" ? 2 : 1, l[2].get<std::string>()});
    }
  }
  if (!log_in.ok()) return false;
  result = std::move(out);
  return true;
}

bool ReadStacks(const json& stacks, std::vector<ProcessStacks>& out) {
  return ReadObjects(stacks, out, [](JsonReader& in, ProcessStacks& entry) {
    in.Int("pid", entry.pid);
    in.String("tool", entry.tool);
    in.Double("at_ms", entry.at_ms);
    in.String("text", entry.text);
    in.String("error", entry.error);
    // Reports from before --dump have none of these: their stacks were all a debugger's.
    in.String("runtime", entry.runtime);
    in.Bool("cut", entry.cut);
    in.String("verdict", entry.verdict);
  });
}

}  // namespace

std::optional<RunRecord> RunRecord::FromJson(const json& j) {
  if (!j.is_object()) return std::nullopt;
  RunRecord r;
  JsonReader in(j);
  // variant and outcome identify a record: without them it is not one.
  const json* variant = in.Find("variant");
  const json* outcome = in.Find("outcome");
  if (!variant || !variant->is_string() || !outcome || !outcome->is_string()) return std::nullopt;
  r.variant = variant->get<std::string>();
  const auto parsed = OutcomeFromString(outcome->get<std::string>());
  if (!parsed) return std::nullopt;
  r.outcome = *parsed;

  in.Int("index", r.index);
  in.String("detail", r.detail);
  in.Double("launch_ms", r.launch_ms);
  in.Double("ready_ms", r.ready_ms);
  in.Double("signal_ms", r.signal_ms);
  in.Double("exit_ms", r.exit_ms);
  in.Double("latency_ms", r.latency_ms);
  in.String("exit", r.exit);
  in.Int("exit_code", r.exit_code);
  in.Int("exit_signal", r.exit_signal);
  in.Bool("watchdog_fired", r.watchdog_fired);
  in.Bool("ended_by_dump", r.ended_by_dump);
  in.Double("stop_acknowledged_ms", r.stop_acknowledged_ms);
  in.Int("left_processes", r.left_processes);
  in.U64("kernel_peak_rss_bytes", r.kernel_peak_rss_bytes);
  in.U64("tree_peak_rss_bytes", r.tree_peak_rss_bytes);
  if (const json* timeline = in.Find("rss_timeline"); timeline && !ReadRssTimeline(*timeline, in, r.rss_timeline))
    return std::nullopt;
  in.Strings("fingerprints", r.fingerprints);
  if (const json* steps = in.Find("steps"); steps && !ReadSteps(*steps, r.steps)) return std::nullopt;
  in.Strings("held_slots", r.held_slots);
  in.Strings("log_tail", r.log_tail);
  if (const json* log = in.Find("log"); log && !ReadLog(*log, r.log)) return std::nullopt;
  in.U64("log_lines", r.log_lines);
  in.U64("log_dropped_bytes", r.log_dropped_bytes);
  if (const json* stacks = in.Find("stacks"); stacks && !ReadStacks(*stacks, r.stacks)) return std::nullopt;
  if (const json* traffic = in.Find("traffic"); traffic && !ReadTraffic(*traffic, r.traffic)) return std::nullopt;
  if (const json* hang = in.Find("hang"); hang && !ReadHang(*hang, r.hang)) return std::nullopt;
  if (!in.ok()) return std::nullopt;
  return r;
}

}  // namespace coder::harness
