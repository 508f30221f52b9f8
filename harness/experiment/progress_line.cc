#include "harness/experiment/progress_line.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <tuple>

#include "common/terminal_text.h"
#include "harness/report/report.h"

namespace coder::harness {
namespace {

constexpr size_t kDefaultTerminalWidth = 80;
constexpr size_t kMaxInFlightShown = 3;

size_t TerminalWidth(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return kDefaultTerminalWidth;
}

// A line as wide as the terminal makes it wrap (and "\r" then rewrites only the last row), so cut
// one column short, at a code-point boundary.
std::string CutToWidth(std::string text, size_t columns) {
  size_t width = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (++width > columns) {
      text.resize(i);
      break;
    }
  }
  return text;
}

// "12s", "1m02s", "1h02m": a wall clock for humans, whole seconds.
std::string Clock(double seconds) {
  const auto s = static_cast<long long>(std::max(0.0, seconds));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
}

// "4.2s" below a minute, else as Clock.
std::string PhaseTime(double seconds) {
  if (seconds < 59.95) return fmt::format("{:.1f}s", std::max(0.0, seconds));
  return Clock(seconds);
}

// "gateway=on order=patched #2: clean in 1.20ms"
std::string RunSummary(const RunRecord& r) {
  std::string out = fmt::format("{} #{}: {}", TerminalSafe(r.variant), r.index, ToString(r.outcome));
  if (r.latency_ms) out += " in " + FormatMs(*r.latency_ms);
  return out;
}

}  // namespace

std::string RenderProgressStatus(const ProgressSnapshot& s) {
  std::string head = fmt::format("[{}/{}]", s.done, s.total);
  std::string counts;
  for (const auto& [outcome, n] : s.outcomes)
    if (n > 0) counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", n, ToString(outcome));
  if (!counts.empty()) head += " " + counts;
  std::string time = Clock(s.elapsed_s);
  if (s.left_s) time += fmt::format(", ~{} left", Clock(std::max(1.0, std::ceil(*s.left_s))));

  std::vector<const InFlightRun*> runs;
  for (const InFlightRun& r : s.in_flight)
    if (r.phase != RunPhase::kFinished) runs.push_back(&r);
  std::stable_sort(runs.begin(), runs.end(), [](const InFlightRun* a, const InFlightRun* b) {
    if (a->for_s != b->for_s) return a->for_s > b->for_s;
    return std::tie(a->variant, a->index) < std::tie(b->variant, b->index);
  });
  std::string flights;
  for (size_t i = 0; i < runs.size() && i < kMaxInFlightShown; ++i)
    flights += fmt::format("{}{} #{}: {} for {}", i ? ", " : "", TerminalSafe(runs[i]->variant), runs[i]->index,
                           ToString(runs[i]->phase), PhaseTime(runs[i]->for_s));
  if (runs.size() > kMaxInFlightShown) flights += fmt::format(", +{} more", runs.size() - kMaxInFlightShown);
  if (flights.empty() && !s.last.empty()) flights = "last " + s.last;
  return head + " | " + time + (flights.empty() ? "" : " | " + flights);
}

std::optional<double> EstimateSecondsLeft(std::optional<double> mean_run_s, size_t not_started,
                                          const std::vector<double>& in_flight_ages_s, int parallel,
                                          std::optional<double> arrival_interval_s) {
  if (!mean_run_s) return std::nullopt;
  const double mean = std::max(0.0, *mean_run_s);
  double longest = 0, work = 0;
  for (double age : in_flight_ages_s) {
    const double rest = std::max(0.0, mean - age);
    longest = std::max(longest, rest);
    work += rest;
  }
  if (arrival_interval_s) {
    if (not_started == 0) return longest;
    return std::max(longest, static_cast<double>(not_started) * *arrival_interval_s + mean);
  }
  work += static_cast<double>(not_started) * mean;
  const double shared = work / std::max(1, parallel);
  return std::max({shared, longest, not_started > 0 ? mean : 0.0});
}

ProgressLine::ProgressLine(int fd, bool is_terminal, size_t total_runs, ProgressOptions options)
    : fd_(fd),
      is_terminal_(is_terminal),
      total_(total_runs),
      options_([&] {
        if (!options.now) options.now = [] { return Clock::now(); };
        return std::move(options);
      }()),
      start_(options_.now()) {
  if (is_terminal_ && options_.redraw_interval.count() > 0) timer_ = std::thread([this] { TimerLoop(); });
}

ProgressLine::~ProgressLine() { StopTimer(); }

void ProgressLine::TimerLoop() {
  std::unique_lock lock(mu_);
  while (!stop_timer_) {
    // A redraw timer, not a synchronisation: the line is drawn again whether or not anything changed.
    timer_cv_.wait_for(lock, options_.redraw_interval, [&] { return stop_timer_; });
    if (!stop_timer_) DrawLocked();
  }
}

void ProgressLine::StopTimer() {
  {
    std::lock_guard lock(mu_);
    stop_timer_ = true;
  }
  timer_cv_.notify_all();
  if (timer_.joinable()) timer_.join();
}

void ProgressLine::OnPhase(const std::string& variant, int index, RunPhase phase, Clock::time_point since) {
  std::lock_guard lock(mu_);
  const auto key = std::make_pair(variant, index);
  if (phase == RunPhase::kFinished) {
    auto it = in_flight_.find(key);
    if (it == in_flight_.end()) return;
    finished_seconds_ += std::chrono::duration<double>(since - it->second.launched).count();
    ++finished_count_;
    in_flight_.erase(it);
    return;
  }
  Flight& f = in_flight_[key];
  if (phase == RunPhase::kLaunching) f.launched = since;
  f.phase = phase;
  f.since = since;
}

void ProgressLine::OnOutput(const std::string& variant, int index, const OutputLine& line) {
  if (!options_.show_output) return;
  Print(fmt::format("{} #{} {}| {}\n", TerminalSafe(variant), index, line.stream == 2 ? "stderr" : "stdout",
                    TerminalSafe(line.text)));
}

ProgressSnapshot ProgressLine::SnapshotLocked(Clock::time_point now) const {
  ProgressSnapshot s;
  s.done = done_;
  s.total = total_;
  s.outcomes = outcomes_;
  s.elapsed_s = std::chrono::duration<double>(now - start_).count();
  s.last = last_;
  std::vector<double> ages;
  for (const auto& [key, f] : in_flight_) {
    s.in_flight.push_back({key.first, key.second, f.phase, std::chrono::duration<double>(now - f.since).count()});
    ages.push_back(std::chrono::duration<double>(now - f.launched).count());
  }
  const size_t accounted = done_ + in_flight_.size();
  const size_t not_started = total_ > accounted ? total_ - accounted : 0;
  std::optional<double> mean;
  if (finished_count_ > 0) mean = finished_seconds_ / static_cast<double>(finished_count_);
  s.left_s = EstimateSecondsLeft(mean, not_started, ages, options_.parallel, options_.arrival_interval_s);
  return s;
}

void ProgressLine::DrawLocked() {
  const std::string line = RenderProgressStatus(SnapshotLocked(options_.now()));
  WriteAll("\r\x1b[K" + CutToWidth(line, TerminalWidth(fd_) - 1));
  line_open_ = true;
}

void ProgressLine::RunFinished(const RunRecord& r) {
  std::lock_guard lock(mu_);
  ++done_;
  ++outcomes_[r.outcome];
  last_ = RunSummary(r);
  if (!is_terminal_) {
    std::string line = fmt::format("[{}/{}] {}", done_, total_, last_);
    if (r.tree_peak_rss_bytes > 0) line += ", peak RSS " + FormatBytes(r.tree_peak_rss_bytes);
    if (r.outcome != Outcome::kClean && !r.detail.empty()) line += " (" + TerminalSafe(r.detail) + ")";
    WriteAll(line + "\n");
    return;
  }
  DrawLocked();
}

void ProgressLine::Print(std::string_view text) {
  std::lock_guard lock(mu_);
  if (line_open_) WriteAll("\r\x1b[K");
  line_open_ = false;
  WriteAll(text);
}

void ProgressLine::Finish() {
  StopTimer();
  std::lock_guard lock(mu_);
  if (!line_open_) return;
  WriteAll("\n");
  line_open_ = false;
}

void ProgressLine::WriteAll(std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd_, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace coder::harness
