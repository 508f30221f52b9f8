#include "harness/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <string_view>

namespace coder::harness {
namespace {

using nlohmann::json;

// Nearest rank with integer arithmetic: ceil(p * n / 100) computed exactly, so p50 of 10 samples is
// the 5th and never the 6th through a rounding error in 0.5 * 10.
double NearestRank(const std::vector<double>& sorted, size_t percent) {
  const size_t rank = std::max<size_t>(1, (percent * sorted.size() + 99) / 100);
  return sorted[rank - 1];
}

json Counts(const std::map<std::string, size_t>& counts) {
  json out = json::object();
  for (const auto& [name, n] : counts) out[name] = n;
  return out;
}

std::optional<StepTiming> DominantStep(const std::vector<RunRecord>& runs) {
  std::map<std::string, double> total_ms;
  size_t reporting = 0;
  for (const RunRecord& r : runs) {
    if (r.steps.empty()) continue;
    ++reporting;
    for (const StepTiming& s : r.steps) total_ms[s.name] += s.ms;
  }
  std::optional<StepTiming> best;
  for (const auto& [name, total] : total_ms) {
    const double mean = total / static_cast<double>(reporting);
    if (!best || mean > best->ms) best = StepTiming{name, mean};
  }
  return best;
}

}  // namespace

Distribution Summarize(std::vector<double> values) {
  std::erase_if(values, [](double v) { return !std::isfinite(v); });
  Distribution d;
  d.n = values.size();
  if (values.empty()) return d;
  std::sort(values.begin(), values.end());
  d.min = values.front();
  d.max = values.back();
  d.p50 = NearestRank(values, 50);
  d.p95 = NearestRank(values, 95);
  d.p99 = NearestRank(values, 99);
  d.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  return d;
}

json Distribution::ToJson() const {
  auto stat = [this](double v) { return n == 0 ? json(nullptr) : json(v); };
  return json{{"n", n},           {"min", stat(min)}, {"p50", stat(p50)}, {"p95", stat(p95)},
              {"p99", stat(p99)}, {"max", stat(max)}, {"mean", stat(mean)}};
}

json VariantSummary::ToJson() const {
  json outcome_counts = json::object();
  for (Outcome o : kAllOutcomes) {
    auto it = outcomes.find(o);
    outcome_counts[std::string(ToString(o))] = it == outcomes.end() ? 0 : it->second;
  }
  return json{
      {"variant", variant},
      {"gated", gated},
      {"baseline", baseline},
      {"runs", runs},
      {"outcomes", std::move(outcome_counts)},
      {"findings", findings},
      {"latency_ms", latency_ms.ToJson()},
      {"ready_ms", ready_ms.ToJson()},
      {"tree_peak_rss_bytes", tree_peak_rss_bytes.ToJson()},
      {"kernel_peak_rss_bytes", kernel_peak_rss_bytes.ToJson()},
      {"fingerprints", Counts(fingerprints)},
      {"dominant_step", dominant_step ? json{{"name", dominant_step->name}, {"ms", dominant_step->ms}} : json(nullptr)},
      {"held_slots", Counts(held_slots)},
  };
}

VariantSummary SummarizeVariant(const VariantSpec& spec, const std::vector<RunRecord>& runs) {
  VariantSummary s;
  s.variant = spec.name;
  s.gated = spec.gated;
  s.baseline = spec.baseline;
  s.runs = runs.size();
  std::vector<double> latency, ready, tree_rss, kernel_rss;
  for (const RunRecord& r : runs) {
    ++s.outcomes[r.outcome];
    if (r.outcome != Outcome::kClean) ++s.findings;
    if (r.latency_ms) latency.push_back(*r.latency_ms);
    if (r.ready_ms) ready.push_back(*r.ready_ms);
    if (r.tree_peak_rss_bytes > 0) tree_rss.push_back(static_cast<double>(r.tree_peak_rss_bytes));
    if (r.kernel_peak_rss_bytes > 0) kernel_rss.push_back(static_cast<double>(r.kernel_peak_rss_bytes));
    // A record lists each fingerprint once, but count runs, not mentions, even if one slips through twice.
    std::set<std::string_view> seen;
    for (const std::string& f : r.fingerprints)
      if (seen.insert(f).second) ++s.fingerprints[f];
    seen.clear();
    for (const std::string& slot : r.held_slots)
      if (seen.insert(slot).second) ++s.held_slots[slot];
  }
  s.latency_ms = Summarize(std::move(latency));
  s.ready_ms = Summarize(std::move(ready));
  s.tree_peak_rss_bytes = Summarize(std::move(tree_rss));
  s.kernel_peak_rss_bytes = Summarize(std::move(kernel_rss));
  s.dominant_step = DominantStep(runs);
  return s;
}

}  // namespace coder::harness
