#include "harness/analysis/budget.h"

#include <algorithm>
#include <cmath>
#include <iterator>

namespace coder::harness {
namespace {

using nlohmann::json;

// Within one instant every event is applied before the state is read, so their order there matters only
// for one target's samples at the same time (the later-recorded one wins: the sort is stable). kMark
// changes nothing; it makes the timeline start at the first launch even if that target is never live.
enum class Kind { kMark, kSample, kSignal, kLaunch, kExit };

// 16 bytes: an experiment of many long runs has millions of samples, each one event.
struct Event {
  double t_ms;
  uint32_t target;
  uint32_t sample;  ///< kSample: the index into the target's samples
  Kind kind;
};

struct TargetState {
  bool live = false;
  bool tail = false;
  uint64_t bytes = 0;
  uint64_t Total() const { return live ? bytes : 0; }
  uint64_t Tail() const { return live && tail ? bytes : 0; }
};

std::vector<BudgetAnalysis::Point> Decimate(const std::vector<BudgetAnalysis::Point>& points, size_t max_points) {
  // Four slots are reserved for the first and last points and the two peaks.
  max_points = std::max<size_t>(max_points, 4);
  const size_t n = points.size();
  if (n <= max_points) return points;
  size_t peak_total = 0, peak_tail = 0;
  for (size_t i = 0; i < n; ++i) {
    if (points[i].total_bytes > points[peak_total].total_bytes) peak_total = i;
    if (points[i].tail_bytes > points[peak_tail].tail_bytes) peak_tail = i;
  }
  std::vector<size_t> keep = {0, n - 1, peak_total, peak_tail};
  const size_t buckets = max_points - 4;
  for (size_t b = 0; b < buckets; ++b) {
    const size_t begin = b * n / buckets, end = (b + 1) * n / buckets;
    if (begin == end) continue;
    size_t best = begin;
    for (size_t i = begin; i < end; ++i)
      if (points[i].total_bytes > points[best].total_bytes) best = i;
    keep.push_back(best);
  }
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  std::vector<BudgetAnalysis::Point> out;
  out.reserve(keep.size());
  for (size_t i : keep) out.push_back(points[i]);
  return out;
}

}  // namespace

std::vector<TargetTimeline> TimelinesFromRuns(const std::vector<RunRecord>& runs) {
  std::vector<TargetTimeline> out;
  for (const RunRecord& r : runs)
    if (auto t = TimelineOf(r)) out.push_back(std::move(*t));
  return out;
}

void DecimateSamples(std::vector<RssPoint>& samples, size_t max_samples) {
  max_samples = std::max<size_t>(max_samples, 3);
  const size_t n = samples.size();
  if (n <= max_samples) return;
  size_t peak = 0;
  for (size_t i = 1; i < n; ++i)
    if (samples[i].bytes > samples[peak].bytes) peak = i;
  // Three slots for the first, the last and the peak; the rest share equal slices, each its largest.
  const size_t buckets = max_samples - 3;
  std::vector<size_t> keep = {0, peak, n - 1};
  for (size_t b = 0; b < buckets; ++b) {
    const size_t lo = 1 + b * (n - 2) / buckets, hi = 1 + (b + 1) * (n - 2) / buckets;
    size_t best = lo;
    for (size_t i = lo; i < hi; ++i)
      if (samples[i].bytes > samples[best].bytes) best = i;
    if (lo < hi) keep.push_back(best);
  }
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  std::vector<RssPoint> kept;
  kept.reserve(keep.size());
  for (size_t i : keep) kept.push_back(samples[i]);
  samples = std::move(kept);
}

std::optional<TargetTimeline> TimelineOf(const RunRecord& r) {
  if (!r.launch_ms || !r.exit_ms) return std::nullopt;
  TargetTimeline t;
  t.launch_ms = *r.launch_ms;
  if (r.signal_ms) t.signal_ms = *r.launch_ms + *r.signal_ms;
  t.exit_ms = *r.launch_ms + *r.exit_ms;
  t.samples.reserve(r.rss_timeline.size());
  for (const RssPoint& p : r.rss_timeline) t.samples.push_back(RssPoint{*r.launch_ms + p.t_ms, p.bytes});
  std::stable_sort(t.samples.begin(), t.samples.end(),
                   [](const RssPoint& a, const RssPoint& b) { return a.t_ms < b.t_ms; });
  return t;
}

BudgetAnalysis AnalyzeBudget(const std::vector<TargetTimeline>& runs, std::optional<uint64_t> budget_bytes,
                             size_t max_points) {
  std::vector<const TargetTimeline*> all;
  all.reserve(runs.size());
  for (const TargetTimeline& t : runs) all.push_back(&t);
  return AnalyzeBudgetOf(all, budget_bytes, max_points);
}

namespace {

/// The targets' launches, samples, signals and exits in time order, and the sums the analysis needs.
struct Timeline {
  std::vector<Event> events;
  std::vector<TargetState> state;  ///< one per target, at its first sample's size
  double first_launch = 0, last_exit = 0;
  double lifetime_sum = 0, tail_sum = 0;
};

Timeline BuildTimeline(const std::vector<const TargetTimeline*>& targets) {
  Timeline tl;
  tl.first_launch = targets.front()->launch_ms;
  tl.last_exit = targets.front()->exit_ms;
  tl.state.resize(targets.size());
  for (uint32_t i = 0; i < targets.size(); ++i) {
    const TargetTimeline& t = *targets[i];
    const double exit = std::max(t.exit_ms, t.launch_ms);
    tl.first_launch = std::min(tl.first_launch, t.launch_ms);
    tl.last_exit = std::max(tl.last_exit, exit);
    tl.lifetime_sum += exit - t.launch_ms;
    const bool signalled = t.signal_ms && std::isfinite(*t.signal_ms);
    if (signalled) tl.tail_sum += exit - std::clamp(*t.signal_ms, t.launch_ms, exit);
    if (exit == t.launch_ms) continue;  // never live: contributes nothing at any instant

    // Resident from its start: before its first sample, a target holds that sample's value.
    bool first_sample = true;
    for (uint32_t k = 0; k < t.samples.size(); ++k) {
      const RssPoint& p = t.samples[k];
      if (!std::isfinite(p.t_ms)) continue;
      if (first_sample) tl.state[i].bytes = p.bytes;
      first_sample = false;
      tl.events.push_back({p.t_ms, i, k, Kind::kSample});
    }
    tl.events.push_back({t.launch_ms, i, 0, Kind::kLaunch});
    tl.events.push_back({exit, i, 0, Kind::kExit});
    if (signalled) tl.events.push_back({*t.signal_ms, i, 0, Kind::kSignal});
  }
  tl.events.push_back({tl.first_launch, 0, 0, Kind::kMark});
  std::stable_sort(tl.events.begin(), tl.events.end(), [](const Event& x, const Event& y) { return x.t_ms < y.t_ms; });
  return tl;
}

/// Walks the events in time order, keeping the live total and tail: their peaks, the time over the
/// budget, and the points of the timeline where either or the live count changes.
std::vector<BudgetAnalysis::Point> Sweep(Timeline& tl, const std::vector<const TargetTimeline*>& targets,
                                         std::optional<uint64_t> budget_bytes, BudgetAnalysis& a) {
  const std::vector<Event>& events = tl.events;
  std::vector<TargetState>& state = tl.state;
  const double first_launch = tl.first_launch, last_exit = tl.last_exit;
  uint64_t total = 0, tail = 0;
  int live = 0;
  double since = first_launch;  // when the current (total, tail, live) state began
  std::vector<BudgetAnalysis::Point> points;
  for (size_t k = 0; k < events.size();) {
    const double now = events[k].t_ms;
    if (budget_bytes && total > *budget_bytes) a.time_over_budget_ms += now - since;
    since = now;
    for (; k < events.size() && events[k].t_ms == now; ++k) {
      const Event& e = events[k];
      if (e.kind == Kind::kMark) continue;
      TargetState& s = state[e.target];
      total -= s.Total();
      tail -= s.Tail();
      switch (e.kind) {
        case Kind::kSample: s.bytes = targets[e.target]->samples[e.sample].bytes; break;
        case Kind::kSignal: s.tail = true; break;
        case Kind::kLaunch:
          s.live = true;
          ++live;
          break;
        case Kind::kExit:
          s.live = false;
          --live;
          break;
        case Kind::kMark: break;
      }
      total += s.Total();
      tail += s.Tail();
    }
    if (now < first_launch || now > last_exit) continue;  // nothing is live out there
    if (total > a.peak_total_bytes) {
      a.peak_total_bytes = total;
      a.peak_total_at_ms = now;
    }
    a.peak_tail_bytes = std::max(a.peak_tail_bytes, tail);
    const BudgetAnalysis::Point p{now, total, tail, live};
    if (points.empty() || points.back().total_bytes != total || points.back().tail_bytes != tail ||
        points.back().live != live)
      points.push_back(p);
  }
  return points;
}

}  // namespace

BudgetAnalysis AnalyzeBudgetOf(const std::vector<const TargetTimeline*>& runs, std::optional<uint64_t> budget_bytes,
                               size_t max_points) {
  BudgetAnalysis a;
  std::vector<const TargetTimeline*> targets;
  // A non-finite time cannot be placed on the axis; such a run (or sample) is left out.
  for (const TargetTimeline* t : runs)
    if (std::isfinite(t->launch_ms) && std::isfinite(t->exit_ms)) targets.push_back(t);
  if (targets.empty()) return a;

  Timeline tl = BuildTimeline(targets);
  const double n = static_cast<double>(targets.size());
  a.window_ms = tl.last_exit - tl.first_launch;
  a.mean_lifetime_ms = tl.lifetime_sum / n;
  a.mean_tail_ms = tl.tail_sum / n;
  a.tail_share = tl.lifetime_sum > 0 ? tl.tail_sum / tl.lifetime_sum : 0;
  if (a.window_ms > 0) {
    a.mean_live = tl.lifetime_sum / a.window_ms;
    a.arrival_rate_per_s = n / (a.window_ms / 1000.0);
  }
  a.peak_total_at_ms = tl.first_launch;
  const std::vector<BudgetAnalysis::Point> points = Sweep(tl, targets, budget_bytes, a);
  a.over_budget = budget_bytes && a.peak_total_bytes > *budget_bytes;
  a.timeline = Decimate(points, max_points);
  return a;
}

BudgetAnalysis ProjectBudget(const std::vector<TargetTimeline>& runs, uint64_t assume_rss_bytes,
                             std::optional<uint64_t> budget_bytes, size_t max_points) {
  std::vector<const TargetTimeline*> all;
  all.reserve(runs.size());
  for (const TargetTimeline& t : runs) all.push_back(&t);
  return ProjectBudgetOf(all, assume_rss_bytes, budget_bytes, max_points);
}

BudgetAnalysis ProjectBudgetOf(const std::vector<const TargetTimeline*>& runs, uint64_t assume_rss_bytes,
                               std::optional<uint64_t> budget_bytes, size_t max_points) {
  std::vector<TargetTimeline> heavy;
  heavy.reserve(runs.size());
  for (const TargetTimeline* t : runs)
    heavy.push_back({t->launch_ms, t->signal_ms, t->exit_ms, {RssPoint{t->launch_ms, assume_rss_bytes}}});
  return AnalyzeBudget(heavy, budget_bytes, max_points);
}

json BudgetAnalysis::ToJson() const {
  json points = json::array();
  for (const Point& p : timeline) points.push_back(json::array({p.t_ms, p.total_bytes, p.tail_bytes, p.live}));
  return json{
      {"peak_total_bytes", peak_total_bytes},
      {"peak_total_at_ms", peak_total_at_ms},
      {"peak_tail_bytes", peak_tail_bytes},
      {"time_over_budget_ms", time_over_budget_ms},
      {"over_budget", over_budget},
      {"mean_live", mean_live},
      {"arrival_rate_per_s", arrival_rate_per_s},
      {"mean_lifetime_ms", mean_lifetime_ms},
      {"mean_tail_ms", mean_tail_ms},
      {"tail_share", tail_share},
      {"window_ms", window_ms},
      {"timeline", std::move(points)},
  };
}

json BudgetJson(std::optional<uint64_t> budget, std::optional<uint64_t> assume, const BudgetAnalysis& measured,
                const std::optional<BudgetAnalysis>& projected) {
  return json{
      {"budget_bytes", budget ? json(*budget) : json(nullptr)},
      {"assume_rss_bytes", assume ? json(*assume) : json(nullptr)},
      {"measured", measured.ToJson()},
      {"projected", projected ? projected->ToJson() : json(nullptr)},
  };
}

}  // namespace coder::harness
