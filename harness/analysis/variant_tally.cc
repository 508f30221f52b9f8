#include "harness/analysis/variant_tally.h"

#include <fmt/format.h>

#include <set>
#include <string_view>

#include "harness/analysis/fingerprint.h"
#include "harness/analysis/traffic_analysis.h"

namespace coder::harness {

void VariantTally::Add(const RunRecord& run) {
  runs_.push_back({run.outcome, run.watchdog_fired, run.latency_ms, run.ready_ms, run.tree_peak_rss_bytes,
                   run.kernel_peak_rss_bytes});
  // A record lists each fingerprint once, but count runs, not mentions, even if one slips through twice.
  std::set<std::string_view> seen;
  for (const std::string& f : run.fingerprints)
    if (seen.insert(f).second) ++fingerprints_[f];
  seen.clear();
  for (const std::string& slot : run.held_slots)
    if (seen.insert(slot).second) ++held_slots_[slot];
  if (!run.steps.empty()) {
    ++runs_with_steps_;
    for (const StepTiming& s : run.steps) step_total_ms_[s.name] += s.ms;
  }
  traffic_.Add(run);
  if (auto timeline = TimelineOf(run)) {
    DecimateSamples(timeline->samples, budget_samples_per_run_);
    timeline->samples.shrink_to_fit();
    timelines_.push_back(std::move(*timeline));
  }
  AppendRunFindings(run, spec_.gated, findings_);
}

VariantSummary VariantTally::Summary() const {
  VariantSummary s;
  s.variant = spec_.name;
  s.gated = spec_.gated;
  s.baseline = spec_.baseline;
  s.builtin_server = spec_.builtin_server;
  s.runs = runs_.size();
  std::vector<double> ready, kernel_rss;
  for (const Run& r : runs_) {
    ++s.outcomes[r.outcome];
    if (r.outcome != Outcome::kClean) ++s.findings;
    if (r.ready_ms) ready.push_back(*r.ready_ms);
    if (r.kernel_peak_rss_bytes > 0) kernel_rss.push_back(static_cast<double>(r.kernel_peak_rss_bytes));
  }
  s.latency_ms = SummarizeCensored(Latencies());
  s.ready_ms = Summarize(std::move(ready));
  s.tree_peak_rss_bytes = TreePeakRss();
  s.kernel_peak_rss_bytes = Summarize(std::move(kernel_rss));
  s.fingerprints = fingerprints_;
  s.held_slots = held_slots_;
  s.traffic = traffic_.Summary();
  // The mean over the runs that reported steps, a step missing from one of them counting 0 ms there.
  for (const auto& [name, total] : step_total_ms_) {
    const double mean = total / static_cast<double>(runs_with_steps_);
    if (!s.dominant_step || mean > s.dominant_step->ms) s.dominant_step = StepTiming{name, mean};
  }
  s.fixed_tail = FixedTailOfRuns();
  return s;
}

std::vector<Sample> VariantTally::Latencies() const {
  std::vector<Sample> out;
  for (const Run& r : runs_)
    if (r.latency_ms) out.push_back({*r.latency_ms, r.watchdog_fired});
  return out;
}

double VariantTally::TimeoutRate() const {
  if (runs_.empty()) return 0;
  size_t n = 0;
  for (const Run& r : runs_) n += r.outcome == Outcome::kTimeoutFingerprint;
  return static_cast<double>(n) / static_cast<double>(runs_.size());
}

Distribution VariantTally::TreePeakRss() const {
  std::vector<double> values;
  for (const Run& r : runs_)
    if (r.tree_peak_rss_bytes > 0) values.push_back(static_cast<double>(r.tree_peak_rss_bytes));
  return Summarize(std::move(values));
}

std::optional<FixedTail> VariantTally::FixedTailOfRuns() const {
  std::vector<double> latencies;
  for (const Run& r : runs_)
    if (r.latency_ms && !r.watchdog_fired) latencies.push_back(*r.latency_ms);
  return FindFixedTail(std::move(latencies));
}

void AppendRunFindings(const RunRecord& run, bool gated, std::vector<Finding>& out) {
  if (auto kind = FindingKindOf(run.outcome))
    out.push_back({run.variant, run.index, *kind, fmt::format("{}: {}", ToString(run.outcome), run.detail),
                   gated || LeavesTheStopUntested(run.outcome)});
  for (const auto& f : run.fingerprints)
    if (!IsBuiltinFingerprint(f))
      out.push_back(
          {run.variant, run.index, FindingKind::kFingerprint, fmt::format("fingerprint {} matched", f), gated});
  if (auto dropped = DroppedFinding(run))
    out.push_back({run.variant, run.index, FindingKind::kDropped, "dropped: " + *dropped, gated});
  if (auto held = HeldByClientFinding(run))
    out.push_back({run.variant, run.index, FindingKind::kHeldByClient, "held-by-client: " + *held, gated});
}

std::vector<Finding> CollectFindings(const std::vector<VariantTally>& variants, const ExperimentFindings& experiment) {
  std::vector<Finding> findings;
  for (const VariantTally& v : variants)
    findings.insert(findings.end(), v.RunFindings().begin(), v.RunFindings().end());
  for (const VariantTally& v : variants)
    if (auto tail = v.FixedTailOfRuns())
      findings.push_back({v.spec().name, std::nullopt, FindingKind::kFixedTail,
                          tail->Describe() + ": the signature of a timeout", v.spec().gated});
  AppendExperimentFindings(
      [&](const std::string& name) {
        for (const VariantTally& v : variants)
          if (v.spec().name == name) return v.spec().gated;
        return true;
      },
      experiment, findings);
  return findings;
}

Comparison Compare(const VariantTally& variant, const VariantTally& baseline, int suite_stops, double regression_ratio,
                   uint64_t seed) {
  return CompareSamples(variant.spec().name, {variant.Latencies(), variant.TimeoutRate(), variant.TreePeakRss()},
                        baseline.spec().name, {baseline.Latencies(), baseline.TimeoutRate(), baseline.TreePeakRss()},
                        suite_stops, regression_ratio, seed);
}

}  // namespace coder::harness
