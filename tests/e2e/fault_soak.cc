#include "tests/e2e/fault_soak.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "harness/process/child_process.h"
#include "tests/e2e/process_scan.h"
#include "tests/e2e/report_files.h"
#include "tests/support/temp_dir.h"

namespace coder::e2e::soak {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using nlohmann::json;
using Rng = std::mt19937_64;

constexpr uint64_t kMiB = 1 << 20;

const char* const kStepLine = "[info] shutdown step done  step=flood took=1ms took_ms=1 completed=1";
const char* const kTimeoutLine = "[warn] websocket shutdown timed out after 1 seconds  held=soak#1 held_count=1";

int Uniform(Rng& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

/// Where an invocation's report files go: its scratch directory, or an empty path if none could be made.
std::filesystem::path ScratchPath(const Result<test_support::TempDir>& scratch) {
  return scratch ? scratch->path() : std::filesystem::path();
}

/// One variant of an invocation: a kind with its drawn arguments.
struct Variant {
  std::string name;
  const FaultKind* kind = nullptr;
  std::vector<std::string> args;
  uint64_t flood_bytes = 0;
};

struct Plan {
  std::vector<Variant> variants;
  int runs = 1;
  int parallel = 1;
  std::chrono::milliseconds hold{0};
  std::string signal = "TERM";
  std::chrono::milliseconds ready_timeout{0};
};

std::vector<std::string> ArgsFor(const FaultKind& k, Rng& rng, const Timing& t, uint64_t flood_bytes) {
  const auto ms = [](auto d) { return std::to_string(std::chrono::milliseconds(d).count()); };
  const std::string& n = k.name;
  if (n == "clean") return {"--exit-after-ms", std::to_string(Uniform(rng, 0, 30))};
  if (n == "default-action") return {"--die-by-signal", "--exit-after-ms", std::to_string(Uniform(rng, 0, 10))};
  if (n == "slow-start") return {"--ready-after-ms", std::to_string(Uniform(rng, 50, 200))};
  if (n == "chatty") return {"--lines-per-second", "2000"};
  if (n == "grandchild") return {"--fork-grandchild"};
  if (n == "daemon") return {"--daemon-grandchild"};
  if (n == "flood") return {"--flood-bytes", std::to_string(flood_bytes)};
  if (n == "step-flood") return {"--flood-bytes", std::to_string(flood_bytes), "--flood-line", kStepLine};
  if (n == "tail-flood") return {"--flood-after-signal", std::to_string(kMiB)};
  if (n == "slow") return {"--exit-after-ms", ms(t.slow_exit)};
  if (n == "timeout-line") return {"--print-after-signal", kTimeoutLine, "--exit-after-ms", "5"};
  if (n == "hang") return {"--ignore-signals"};
  if (n == "silent-hang") return {"--ignore-signals", "--quiet"};
  if (n == "chatty-hang") return {"--ignore-signals", "--quiet", "--lines-per-second", "1000"};
  if (n == "abort") return {"--crash"};
  if (n == "exit-code") return {"--exit-code", "3"};
  if (n == "never-ready") return {"--never-ready"};
  if (n == "closes-output") return {"--close-stdout"};
  if (n == "exit-before-ready")
    return {"--exit-before-ready", "4", "--ready-after-ms", std::to_string(Uniform(rng, 0, 20))};
  if (n == "crash-before-ready") return {"--crash-before-ready"};
  if (n == "exit-after-ready") return {"--exit-after-ready", "0"};
  return {"--no-such-kind"};
}

/// Single-quoted for --target, whose command is split into words as a shell would.
std::string Quote(const std::string& word) {
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct Draw {
  bool allow_floods = true;
  bool allow_daemons = true;
  bool need_long_kind = false;
  int min_variants = 1;
  int max_variants = 5;
  int min_runs = 1;
  int max_runs = 4;
  int max_parallel = 8;
  uint64_t min_flood = kMiB;
  uint64_t max_flood = 300 * kMiB;
};

Plan DrawPlan(Rng& rng, const Timing& t, const Draw& d) {
  Plan p;
  p.runs = Uniform(rng, d.min_runs, d.max_runs);
  p.parallel = Uniform(rng, 1, d.max_parallel);
  p.signal = Uniform(rng, 0, 1) ? "TERM" : "INT";
  p.hold = Uniform(rng, 0, 2) == 0 ? t.early_exit_hold : 0ms;
  const auto& kinds = FaultKinds();
  const int count = Uniform(rng, d.min_variants, d.max_variants);
  bool flooding = false;
  for (int i = 0; static_cast<int>(p.variants.size()) < count && i < 1000; ++i) {
    const FaultKind& k = kinds[static_cast<size_t>(Uniform(rng, 0, static_cast<int>(kinds.size()) - 1))];
    if (d.need_long_kind && p.variants.empty() && !k.long_running) continue;
    if (k.needs_hold && p.hold.count() == 0) continue;
    if (k.escapes_group && !d.allow_daemons) continue;
    if (k.floods && (flooding || !d.allow_floods)) continue;
    // A never-ready target would wait out the long ready timeout a flood needs.
    if (k.waits_ready_timeout && flooding) continue;
    if (k.floods &&
        std::any_of(p.variants.begin(), p.variants.end(), [](const Variant& v) { return v.kind->waits_ready_timeout; }))
      continue;
    Variant v;
    v.kind = &k;
    v.name = fmt::format("{}-{}", k.name, p.variants.size());
    if (k.floods) {
      // Log-uniform: most floods are tens of MiB, some are hundreds.
      const double lo = std::log(static_cast<double>(d.min_flood)), hi = std::log(static_cast<double>(d.max_flood));
      v.flood_bytes = static_cast<uint64_t>(std::exp(std::uniform_real_distribution<double>(lo, hi)(rng)));
      // A step line is parsed, not just stored: a quarter of the bytes makes the same number of lines.
      if (k.name == "step-flood") v.flood_bytes /= 4;
      flooding = true;
    }
    v.args = ArgsFor(k, rng, t, v.flood_bytes);
    p.variants.push_back(std::move(v));
  }
  uint64_t flood = 0;
  for (const auto& v : p.variants) flood += v.flood_bytes;
  p.ready_timeout = t.ready_timeout + t.ready_timeout_per_flood_mib * static_cast<int64_t>(flood / kMiB);
  return p;
}

std::string Ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

std::vector<std::string> CommandFor(const Plan& p, const Timing& t, const std::string& coder, const std::string& target,
                                    const std::string& tag, const std::filesystem::path& dir) {
  std::vector<std::string> argv = {coder, "diag", "shutdown"};
  for (const auto& [flag, value] : std::vector<std::pair<std::string, std::string>>{
           {"--runs", std::to_string(p.runs)},
           {"--parallel", std::to_string(p.parallel)},
           {"--signal", p.signal},
           {"--hold", Ms(p.hold)},
           {"--ready-timeout", Ms(p.ready_timeout)},
           {"--kill-after", Ms(t.kill_after)},
           {"--slow-threshold", Ms(t.slow_threshold)},
           // The kinds are defined around the calibrated target's ready line (closing the output before
           // it, exiting right after it); readiness by listening has tests of its own.
           {"--ready-log", "Started HTTP listener at "},
           {"--jsonl", (dir / "runs.jsonl").string()},
           {"--json", (dir / "report.json").string()}}) {
    argv.push_back(flag);
    argv.push_back(value);
  }
  for (const auto& v : p.variants) {
    std::string command = Quote(target);
    for (const auto& a : v.args) command += " " + Quote(a);
    command += " --tag " + tag;
    argv.push_back("--target");
    argv.push_back(v.name + "=" + command);
  }
  return argv;
}

std::string ShellLine(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& a : argv) {
    if (!line.empty()) line += ' ';
    const bool plain =
        !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,") ==
                          std::string::npos;
    line += plain ? a : Quote(a);
  }
  return line;
}

/// A run as the reports name it.
struct SeenRun {
  std::string variant;
  int index = -1;
  std::string outcome;
  std::string detail;
  std::vector<std::string> fingerprints;
  bool operator<(const SeenRun& o) const { return std::tie(variant, index) < std::tie(o.variant, o.index); }
};

std::optional<SeenRun> ToRun(json j) {  // a copy: operator[] on a missing key then reads null
  if (!j.is_object() || !j["variant"].is_string() || !j["index"].is_number_integer() || !j["outcome"].is_string())
    return std::nullopt;
  SeenRun r;
  r.variant = j["variant"].get<std::string>();
  r.index = j["index"].get<int>();
  r.outcome = j["outcome"].get<std::string>();
  if (j["detail"].is_string()) r.detail = j["detail"].get<std::string>();
  if (j["fingerprints"].is_array())
    for (const auto& f : j["fingerprints"])
      if (f.is_string()) r.fingerprints.push_back(f.get<std::string>());
  return r;
}

/// Checks the JSON lines file: whole lines only, each a run, each run once, each outcome the one its kind
/// must get. Appends to `problems`; returns the runs.
std::vector<SeenRun> CheckJsonl(const std::filesystem::path& path, const Plan& plan, std::vector<std::string>& problems,
                                int* misclassified) {
  std::vector<SeenRun> runs;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    problems.push_back("no JSON lines file");
    return runs;
  }
  const std::string text = ReadText(path);
  if (!text.empty() && text.back() != '\n')
    problems.push_back(fmt::format("the JSON lines file ends in a torn line ({} bytes after the last newline)",
                                   text.size() - text.rfind('\n') - 1));
  std::set<std::pair<std::string, int>> seen;
  std::istringstream in(text);
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (in.eof() && !text.empty() && text.back() != '\n') break;  // the torn tail, reported above
    auto run = ToRun(json::parse(line, nullptr, false));
    if (!run) {
      problems.push_back(fmt::format("JSON lines file line {} is not a run: {:.120}", number, line));
      continue;
    }
    if (!seen.insert({run->variant, run->index}).second)
      problems.push_back(fmt::format("run {}#{} is in the JSON lines file twice", run->variant, run->index));
    const auto v = std::find_if(plan.variants.begin(), plan.variants.end(),
                                [&](const Variant& x) { return x.name == run->variant; });
    if (v == plan.variants.end() || run->index < 0 || run->index >= plan.runs) {
      problems.push_back(fmt::format("run {}#{} was never planned", run->variant, run->index));
      continue;
    }
    if (run->outcome != v->kind->expected) {
      ++*misclassified;
      problems.push_back(fmt::format("run {}#{} was {}, want {} ({})", run->variant, run->index, run->outcome,
                                     v->kind->expected, run->detail));
    } else if (!v->kind->fingerprint.empty() && std::find(run->fingerprints.begin(), run->fingerprints.end(),
                                                          v->kind->fingerprint) == run->fingerprints.end()) {
      ++*misclassified;
      problems.push_back(fmt::format("run {}#{} lacks the {} fingerprint (has: {})", run->variant, run->index,
                                     v->kind->fingerprint, fmt::join(run->fingerprints, ", ")));
    }
    runs.push_back(std::move(*run));
  }
  std::sort(runs.begin(), runs.end());
  return runs;
}

/// The JSON report holds exactly the runs of the JSON lines file, with the same outcomes.
void CheckJsonReport(const std::filesystem::path& path, const std::vector<SeenRun>& jsonl, bool interrupted,
                     std::vector<std::string>& problems) {
  json report = ReadJson(path);
  if (!report.is_object()) {
    problems.push_back("no JSON report, or it does not parse");
    return;
  }
  json& meta = report["meta"];
  if (!meta.is_object() || meta["interrupted"] != interrupted)
    problems.push_back(fmt::format("the JSON report's meta.interrupted is {}, want {}",
                                   meta.is_object() ? meta["interrupted"].dump() : "missing", interrupted));
  if (interrupted && (!meta.is_object() || meta["exit_code"] != 130))
    problems.push_back("the interrupted JSON report's meta.exit_code is not 130");
  std::vector<SeenRun> runs;
  if (report["runs"].is_array())
    for (const auto& r : report["runs"])
      if (auto run = ToRun(r)) runs.push_back(std::move(*run));
  std::sort(runs.begin(), runs.end());
  bool same = runs.size() == jsonl.size();
  for (size_t i = 0; same && i < runs.size(); ++i)
    same =
        runs[i].variant == jsonl[i].variant && runs[i].index == jsonl[i].index && runs[i].outcome == jsonl[i].outcome;
  if (!same)
    problems.push_back(
        fmt::format("the JSON report has {} runs, the JSON lines file {}, or they differ", runs.size(), jsonl.size()));
}

/// Kills what is left and says what it was.
int CollectLeftovers(const std::string& tag, std::vector<std::string>& problems) {
  const auto left = ProcessesWith(tag);
  for (pid_t pid : left) {
    std::string cmdline = ReadText(fmt::format("/proc/{}/cmdline", pid));
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    problems.push_back(fmt::format("process {} was left behind: {:.160}", pid, cmdline));
    ::kill(pid, SIGKILL);
  }
  return static_cast<int>(left.size());
}

std::string OutputTail(const harness::ChildProcess& child, size_t lines) {
  const auto all = child.Lines();
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "\n    | " + all[i].text;
  return out;
}

std::string KindList(const Plan& p) {
  std::vector<std::string> names;
  for (const auto& v : p.variants)
    names.push_back(v.flood_bytes ? fmt::format("{} {:.1f}MiB", v.kind->name, static_cast<double>(v.flood_bytes) / kMiB)
                                  : v.kind->name);
  return fmt::format("{}", fmt::join(names, ", "));
}

std::unique_ptr<harness::ChildProcess> Launch(const std::vector<std::string>& argv,
                                              std::vector<std::string>& problems) {
  harness::LaunchSpec spec;
  spec.argv = argv;
  auto child = harness::ChildProcess::Start(std::move(spec));
  if (!child) {
    problems.push_back("cannot launch coder: " + child.error().message);
    return nullptr;
  }
  return std::move(*child);
}

}  // namespace

const std::vector<FaultKind>& FaultKinds() {
  static const std::vector<FaultKind> kinds = [] {
    std::vector<FaultKind> k;
    auto add = [&k](std::string name, std::string expected) -> FaultKind& {
      k.push_back(FaultKind{std::move(name), std::move(expected)});
      return k.back();
    };
    add("clean", "clean");
    add("default-action", "clean");
    add("slow-start", "clean");
    add("chatty", "clean");
    // The grandchild ignores the stop signal and outlives its parent: found, reported, killed.
    add("grandchild", "left-processes");
    // The daemon left the group and outlives its target: found by its marker, reported, killed.
    add("daemon", "left-processes").escapes_group = true;
    add("flood", "clean").floods = true;
    add("step-flood", "clean").floods = true;
    add("tail-flood", "clean");
    add("slow", "slow").long_running = true;
    add("timeout-line", "timeout-fingerprint").fingerprint = "websocket-shutdown-timeout";
    add("hang", "killed-by-watchdog").long_running = true;
    auto& silent = add("silent-hang", "killed-by-watchdog");
    silent.long_running = true;
    silent.fingerprint = "silent-watchdog-kill";
    add("chatty-hang", "killed-by-watchdog").long_running = true;
    add("abort", "crashed");
    add("exit-code", "crashed");
    auto& never = add("never-ready", "never-ready");
    never.waits_ready_timeout = true;
    never.long_running = true;
    add("closes-output", "never-ready");
    add("exit-before-ready", "failed-to-start");
    add("crash-before-ready", "failed-to-start");
    add("exit-after-ready", "crashed").needs_hold = true;
    return k;
  }();
  return kinds;
}

std::string SoakReport::Summary() const {
  std::string out = fmt::format("seed {}: {} runs in {} invocations of coder diag shutdown, {:.1f}s wall\n", seed, runs,
                                invocations, wall_seconds);
  out += "runs per kind:";
  for (const auto& [kind, count] : runs_per_kind) out += fmt::format(" {}={}", kind, count);
  out += fmt::format("\nmisclassified runs: {}\nprocesses left behind: {}\n", misclassified, leftovers);
  out += fmt::format(
      "harness peak RSS (ru_maxrss of coder, the largest over invocations): {:.1f} MiB; largest flood "
      "{} MiB\n",
      static_cast<double>(harness_peak_rss_bytes) / kMiB, largest_flood_bytes / kMiB);
  out += fmt::format("problems: {}\n", problems.size());
  for (const auto& p : problems) out += "  " + p + "\n";
  if (!problems.empty()) out += fmt::format("reproduce with: scripts/soak --seed {} --runs {}\n", seed, runs);
  return out;
}

SoakReport RunSoak(const SoakOptions& o) {
  SoakReport report;
  report.seed = o.seed;
  const auto start = Clock::now();
  Rng rng(o.seed);
  Draw draw;
  draw.min_flood = o.min_flood_bytes;
  draw.max_flood = std::max(o.min_flood_bytes, o.max_flood_bytes);
  while (report.runs < o.runs) {
    const int number = ++report.invocations;
    const Plan plan = DrawPlan(rng, o.timing, draw);
    const auto scratch = test_support::TempDir::Create("soak");
    const auto dir = ScratchPath(scratch);
    const std::string tag = fmt::format("soak-{}-{}-{}", ::getpid(), o.seed, number);
    const auto argv = CommandFor(plan, o.timing, o.coder, o.target, tag, dir);
    std::vector<std::string> problems;
    const auto began = Clock::now();
    auto child = Launch(argv, problems);
    std::string exit = "not launched";
    uint64_t rss = 0;
    if (child) {
      // Every kind ends on its own within its timeouts; this only catches a harness that hangs.
      auto status = child->WaitUntil(Clock::now() + 600s);
      exit = status ? status->Describe() : "still running after 600s";
      if (status) rss = static_cast<uint64_t>(status->max_rss_kib) * 1024;
      report.leftovers += CollectLeftovers(tag, problems);
      int wrong = 0;
      const auto runs = CheckJsonl(dir / "runs.jsonl", plan, problems, &wrong);
      report.misclassified += wrong;
      const size_t planned = plan.variants.size() * static_cast<size_t>(plan.runs);
      if (runs.size() != planned)
        problems.push_back(fmt::format("{} runs in the JSON lines file, {} planned", runs.size(), planned));
      CheckJsonReport(dir / "report.json", runs, false, problems);
      const bool findings = std::any_of(plan.variants.begin(), plan.variants.end(),
                                        [](const Variant& v) { return v.kind->expected != "clean"; });
      const std::string want = findings ? "exit 1" : "exit 0";
      if (exit != want) problems.push_back(fmt::format("coder ended with {}, want {}", exit, want));
      if (rss > o.harness_rss_limit_bytes)
        problems.push_back(fmt::format("the harness's peak RSS was {:.1f} MiB, over {:.0f} MiB",
                                       static_cast<double>(rss) / kMiB,
                                       static_cast<double>(o.harness_rss_limit_bytes) / kMiB));
      if (!problems.empty()) problems.push_back("coder's last output:" + OutputTail(*child, 8));
      child->Stop();
    }
    report.runs += static_cast<int>(plan.variants.size()) * plan.runs;
    for (const auto& v : plan.variants) {
      report.runs_per_kind[v.kind->name] += plan.runs;
      report.largest_flood_bytes = std::max(report.largest_flood_bytes, v.flood_bytes);
    }
    report.harness_peak_rss_bytes = std::max(report.harness_peak_rss_bytes, rss);
    const double seconds = std::chrono::duration<double>(Clock::now() - began).count();
    if (o.log)
      *o.log << fmt::format(
                    "[{}] {} runs of {} (x{}, parallel {}, hold {}, SIG{}): {} in {:.2f}s, harness peak RSS "
                    "{:.1f} MiB{}\n",
                    number, static_cast<int>(plan.variants.size()) * plan.runs, KindList(plan), plan.runs,
                    plan.parallel, Ms(plan.hold), plan.signal, exit, seconds, static_cast<double>(rss) / kMiB,
                    problems.empty() ? "" : "  PROBLEMS")
             << std::flush;
    if (!problems.empty()) {
      report.problems.push_back(fmt::format("invocation {} (seed {}): {}", number, o.seed, ShellLine(argv)));
      for (auto& p : problems) report.problems.push_back("  " + p);
    }
  }
  report.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return report;
}

std::string KillReport::Summary() const {
  std::string out = fmt::format("{} after {} finished runs + {}: coder {}, {} runs in the JSON lines file\n",
                                harness::SignalName(signal), waited_for_runs, Ms(delay), exit, finished_runs);
  if (!problems.empty()) out += "  " + ShellLine(command) + "\n";
  for (const auto& p : problems) out += "  " + p + "\n";
  return out;
}

KillReport RunKillRound(const KillOptions& o) {
  KillReport report;
  report.signal = o.signal;
  Rng rng(o.seed * 1000003 + static_cast<uint64_t>(o.signal));
  Draw draw;
  draw.allow_floods = false;  // rounds stay short; floods have the soak
  draw.allow_daemons = o.signal != SIGKILL;
  draw.need_long_kind = true;  // so the experiment is still going when the signal comes
  draw.min_variants = 2;
  draw.max_variants = 4;
  draw.min_runs = draw.max_runs = 30;
  draw.max_parallel = 4;
  const Plan plan = DrawPlan(rng, o.timing, draw);
  report.waited_for_runs = Uniform(rng, 0, 3);
  report.delay = std::chrono::milliseconds(Uniform(rng, 0, 300));

  const auto scratch = test_support::TempDir::Create("soak");
  const auto dir = ScratchPath(scratch);
  const std::string tag = fmt::format("kill-{}-{}-{}", ::getpid(), o.seed, o.signal);
  report.command = CommandFor(plan, o.timing, o.coder, o.target, tag, dir);
  const auto jsonl = dir / "runs.jsonl";
  auto child = Launch(report.command, report.problems);
  if (!child) return report;

  // The JSON lines file is opened after the harness has taken over its signals; then N whole lines.
  auto whole_lines = [&] {
    std::error_code ec;
    if (!std::filesystem::exists(jsonl, ec)) return -1;
    const std::string text = ReadText(jsonl);
    return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  };
  const auto deadline = Clock::now() + 60s;
  while (whole_lines() < report.waited_for_runs && Clock::now() < deadline && !child->exit_status())
    std::this_thread::sleep_for(1ms);  // a file notifies nobody: re-check it
  if (whole_lines() < report.waited_for_runs) {
    report.problems.push_back(fmt::format("the harness never finished {} runs", report.waited_for_runs));
    child->Stop();
    return report;
  }
  std::this_thread::sleep_for(report.delay);  // the random point itself, measured from the condition
  if (auto sent = child->Signal(o.signal); !sent) report.problems.push_back("signal: " + sent.error().message);
  const auto status = child->WaitUntil(Clock::now() + 30s);
  report.exit = status ? status->Describe() : "still running 30s after the signal";
  const std::string want = o.signal == SIGKILL ? "killed by SIGKILL" : "exit 130";
  if (report.exit != want) report.problems.push_back(fmt::format("coder ended with {}, want {}", report.exit, want));

  // The parent-death signal is delivered asynchronously after a SIGKILL; after SIGINT/SIGTERM the harness
  // has waited for every target itself, so nothing should be left even at once.
  if (o.signal == SIGKILL) {
    const auto until = Clock::now() + 10s;
    while (!ProcessesWith(tag).empty() && Clock::now() < until) std::this_thread::sleep_for(1ms);
  }
  CollectLeftovers(tag, report.problems);
  int wrong = 0;
  const auto runs = CheckJsonl(jsonl, plan, report.problems, &wrong);
  report.finished_runs = static_cast<int>(runs.size());
  if (report.finished_runs < report.waited_for_runs)
    report.problems.push_back(
        fmt::format("the JSON lines file lost runs: {} < {}", runs.size(), report.waited_for_runs));
  if (o.signal != SIGKILL) CheckJsonReport(dir / "report.json", runs, true, report.problems);
  if (!report.problems.empty()) report.problems.push_back("coder's last output:" + OutputTail(*child, 8));
  child->Stop();
  return report;
}

}  // namespace coder::e2e::soak
